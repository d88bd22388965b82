/**
 * What a job's payload may hold: JSON that PostgreSQL's `jsonb` accepts, of
 * bounded depth and size. The scheduler checks every payload here before it
 * is stored, so a payload can never reach the database and fail there
 * (`\u0000` is 22P05, a lone surrogate 22P02), nor stop a claim later.
 *
 * The walk is iterative (an explicit stack), so a 100,000-deep value is
 * rejected at the depth limit instead of overflowing the call stack, and it
 * stops at the first problem, so an oversized value costs at most about
 * `maxBytes` of work.
 *
 * @internal
 */
import type * as Schema from "effect/Schema"

/**
 * Why a payload cannot be stored.
 *
 * @internal
 */
export type Reason = "not-json" | "nul-character" | "lone-surrogate" | "too-deep" | "too-large"

/**
 * A payload problem: where (`$` is the payload, `$.a[2]` a value inside it), why, and a sentence.
 *
 * @internal
 */
export interface Problem {
  readonly path: string
  readonly reason: Reason
  readonly issue: string
}

/**
 * Most nested arrays and objects a payload may have. Deep enough for any
 * realistic document; far below what overflows a JSON encoder's stack.
 *
 * @internal
 */
export const maxDepth = 100

/**
 * The default limit on a payload's encoded (UTF-8 JSON) size: 1 MiB.
 *
 * @internal
 */
export const defaultMaxBytes = 1_048_576

/**
 * The highest `maxPayloadBytes` a scheduler accepts: 8 MiB. A run carries
 * its payload through every claim, which fetches hundreds of runs at once.
 *
 * @internal
 */
export const maxMaxBytes = 8 * 1_048_576

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * What PostgreSQL cannot hold in a string (as text or inside `jsonb`), or
 * `undefined`.
 *
 * @internal
 */
export const stringProblem = (value: string): { readonly reason: Reason; readonly issue: string } | undefined =>
  value.includes("\u0000")
    ? { reason: "nul-character", issue: "contains a NUL character (\\u0000), which PostgreSQL cannot store" }
    : loneSurrogate.test(value)
    ? { reason: "lone-surrogate", issue: "contains a lone UTF-16 surrogate, which is not valid Unicode" }
    : undefined

// Bytes of a string as a JSON string literal in UTF-8 (quotes and escapes included).
const stringBytes = (value: string): number => {
  let bytes = 2
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) bytes += 2
    else if (c < 0x20) bytes += 6
    else if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    // Each half of a surrogate pair counts 2: 4 bytes for the pair.
    else if (c >= 0xd800 && c <= 0xdfff) bytes += 2
    else bytes += 3
  }
  return bytes
}

type Segment = string | number

/**
 * A path as printed in errors: `$` for the payload itself, `.key` or
 * `["odd key"]` for a property, `[2]` for an index.
 *
 * @internal
 */
export const pathOf = (segments: ReadonlyArray<PropertyKey>): string => {
  let path = "$"
  for (const segment of segments) {
    if (typeof segment === "number") path += `[${segment}]`
    else if (typeof segment === "symbol") path += `[${String(segment)}]`
    else if (identifier.test(segment) && segment.length <= 64) path += `.${segment}`
    // JSON.stringify escapes NUL and lone surrogates, so the path prints safely.
    else path += `[${JSON.stringify(segment.length > 64 ? `${segment.slice(0, 64)}…` : segment)}]`
  }
  return path
}

const describe = (value: unknown): string => {
  switch (typeof value) {
    case "bigint":
      return "a BigInt"
    case "function":
      return "a function"
    case "symbol":
      return "a symbol"
    case "undefined":
      return "undefined"
    case "number":
      return String(value)
    default: {
      const name = value === null ? undefined : Object.getPrototypeOf(value)?.constructor?.name
      return typeof name === "string" && name !== "" ? `a ${name} (not a plain object)` : "not a plain object"
    }
  }
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  // Plain objects from another realm have another Object.prototype, whose prototype is null.
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null
}

type Frame =
  | {
    readonly kind: "array"
    readonly value: ReadonlyArray<unknown>
    index: number
    readonly copy: Array<Schema.Json> | undefined
  }
  | {
    readonly kind: "object"
    readonly value: object
    readonly keys: ReadonlyArray<string>
    index: number
    emitted: number
    key: string
    readonly copy: { [key: string]: Schema.Json } | undefined
  }

/**
 * How to walk a payload: its byte limit, and whether to build a copy (with
 * `undefined` object properties dropped, as `JSON.stringify` drops them).
 *
 * @internal
 */
export interface Options {
  readonly maxBytes: number
  readonly copy: boolean
}

/**
 * The result of a walk: the first problem, or the copy (when one was asked
 * for) and the encoded size in bytes.
 *
 * @internal
 */
export type Walked =
  | { readonly _tag: "Problem"; readonly problem: Problem }
  | { readonly _tag: "Json"; readonly copy: Schema.Json | undefined; readonly bytes: number }

/**
 * Walks `value` and reports its first problem, or its size (and copy).
 *
 * @internal
 */
export const walk = (value: unknown, options: Options): Walked => {
  // A getter or a proxy may throw while being read: that payload is not data.
  try {
    return walkUnsafe(value, options)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { _tag: "Problem", problem: { path: "$", reason: "not-json", issue: `could not be read: ${message}` } }
  }
}

/**
 * The first problem of `value` as a payload of at most `maxBytes`, or `undefined`.
 *
 * @internal
 */
export const check = (value: unknown, maxBytes: number): Problem | undefined => {
  const walked = walk(value, { maxBytes, copy: false })
  return walked._tag === "Problem" ? walked.problem : undefined
}

interface State {
  readonly options: Options
  readonly stack: Array<Frame>
  // The path of the value being visited: one segment per open container.
  readonly segments: Array<Segment>
  readonly ancestors: Set<object>
  bytes: number
  root: Schema.Json | undefined
}

const fail = (state: State, reason: Reason, issue: string): Problem => ({ path: pathOf(state.segments), reason, issue })
const tooLarge = (state: State) => fail(state, "too-large", `its JSON encoding exceeds ${state.options.maxBytes} bytes`)

const attach = (state: State, json: Schema.Json) => {
  const frame = state.stack[state.stack.length - 1]
  if (frame === undefined) state.root = json
  else if (frame.kind === "array") frame.copy?.push(json)
  // Defined, not assigned: a "__proto__" key is data here, not the prototype.
  else if (frame.copy !== undefined) {
    Object.defineProperty(frame.copy, frame.key, { value: json, enumerable: true, writable: true, configurable: true })
  }
}

const open = (state: State, container: object): Problem | undefined => {
  if (state.ancestors.has(container)) return fail(state, "not-json", "refers to itself (a cycle)")
  if (state.stack.length >= maxDepth) return fail(state, "too-deep", `nests deeper than ${maxDepth} levels`)
  state.bytes += 2
  state.ancestors.add(container)
  if (Array.isArray(container)) {
    const copy: Array<Schema.Json> | undefined = state.options.copy ? [] : undefined
    if (copy !== undefined) attach(state, copy)
    state.stack.push({ kind: "array", value: container, index: 0, copy })
  } else {
    const copy: { [key: string]: Schema.Json } | undefined = state.options.copy ? {} : undefined
    if (copy !== undefined) attach(state, copy)
    state.stack.push({ kind: "object", value: container, keys: Object.keys(container), index: 0, emitted: 0, key: "", copy })
  }
  return undefined
}

// Checks one value (a leaf, or a container it opens), adding its bytes.
const visit = (state: State, value: unknown): Problem | undefined => {
  if (typeof value === "string") {
    const problem = stringProblem(value)
    if (problem !== undefined) return fail(state, problem.reason, problem.issue)
    // Every character takes at least a byte: no need to count further.
    if (value.length > state.options.maxBytes) return tooLarge(state)
    state.bytes += stringBytes(value)
    attach(state, value)
  } else if (value === null || typeof value === "boolean") {
    state.bytes += value === false ? 5 : 4
    attach(state, value)
  } else if (typeof value === "number") {
    if (!Number.isFinite(value)) return fail(state, "not-json", `${value} cannot be carried by JSON`)
    state.bytes += String(value).length
    attach(state, value)
  } else if (typeof value === "object" && (Array.isArray(value) || isPlainObject(value))) {
    const problem = open(state, value)
    if (problem !== undefined) return problem
  } else {
    return fail(state, "not-json", `${describe(value)} cannot be carried by JSON`)
  }
  return state.bytes > state.options.maxBytes ? tooLarge(state) : undefined
}

// The next value to visit, the next child of the innermost open container
// (closing finished ones); a problem with a key; or `done` at the end.
const advance = (state: State): { readonly next: unknown } | Problem | "done" => {
  const { segments, stack } = state
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!
    // Leave the previous child (a container just opened has pushed none).
    if (frame.index > 0) segments.pop()
    if (frame.kind === "array") {
      if (frame.index < frame.value.length) {
        if (frame.index > 0) state.bytes += 1
        segments.push(frame.index)
        // A hole in a sparse array reads as undefined: not JSON.
        return { next: frame.value[frame.index++] }
      }
    } else {
      while (frame.index < frame.keys.length) {
        const key = frame.keys[frame.index++]!
        const item: unknown = Reflect.get(frame.value, key)
        // JSON.stringify drops undefined properties; a copy does too.
        if (item === undefined && state.options.copy) continue
        segments.push(key)
        const problem = stringProblem(key)
        if (problem !== undefined) return fail(state, problem.reason, `has a key that ${problem.issue}`)
        state.bytes += stringBytes(key) + 1 + (frame.emitted++ > 0 ? 1 : 0)
        frame.key = key
        return { next: item }
      }
    }
    state.ancestors.delete(frame.value)
    stack.pop()
  }
  return "done"
}

const walkUnsafe = (value: unknown, options: Options): Walked => {
  const state: State = { options, stack: [], segments: [], ancestors: new Set(), bytes: 0, root: undefined }
  let current: unknown = value
  while (true) {
    const problem = visit(state, current)
    if (problem !== undefined) return { _tag: "Problem", problem }
    const next = advance(state)
    if (next === "done") return { _tag: "Json", copy: options.copy ? state.root : undefined, bytes: state.bytes }
    if ("path" in next) return { _tag: "Problem", problem: next }
    current = next.next
  }
}
