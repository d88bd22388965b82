/**
 * A fast, sound check that a value is a well-formed `Job.Job` whose encoded
 * form is itself, and that encoded form as JSON text without `id` and
 * `paused` (what a job row stores as its definition).
 *
 * `Schema.is(Job.Job)` and `Schema.encode(Job.Job)` walk the schema's AST:
 * about 10 µs a job, which is most of the time of validating and storing
 * 100,000 declared jobs. Almost every job comes from `Job.make`, plain
 * objects of exactly the schema's shape, and for them plain code answers the
 * same question in a fraction of that. The check is sound, not complete:
 * when `conforms` says yes, the schema says yes and encoding changes nothing
 * (no key to strip, no value to transform); when it says no (an unexpected
 * key, a prototype, a value it does not know), the caller asks the schema,
 * which answers as before. So it can only be stricter than the schema,
 * never more lenient: every bound below is the schema's own (`Job.ts`,
 * `Trigger.ts`), or tighter.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import * as Job from "../Job.ts"

const jobId = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/
const taskName = /^(?:[^\s\u0000-\u001f\u007f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])+$/
const isJson = Schema.is(Schema.Json)

// A plain object (what `Job.make` builds) with exactly `size` own enumerable keys.
const plain = (u: unknown, size: number): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto: unknown = Object.getPrototypeOf(u)
  if (proto !== Object.prototype && proto !== null) return false
  let keys = 0
  for (const key in u) {
    if (!Object.hasOwn(u, key)) return false
    keys++
  }
  return keys === size
}

const finite = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)
const int = (u: unknown, min: number, max: number): boolean =>
  typeof u === "number" && Number.isSafeInteger(u) && u >= min && u <= max
const text = (u: unknown, pattern: RegExp): boolean =>
  typeof u === "string" && u.length >= 1 && u.length <= 200 && pattern.test(u)

// `start` and `end` are optional keys: absent, or a number (never `undefined`).
const window = (o: object): number | undefined => {
  let size = 0
  for (const key of ["start", "end"]) {
    if (key in o) {
      if (!finite(Reflect.get(o, key))) return undefined
      size++
    }
  }
  return size
}

const triggerShape = (u: object): boolean => {
  const tag: unknown = Reflect.get(u, "_tag")
  if (tag === "Once") return plain(u, 2) && finite(u["at"])
  const extra = window(u)
  if (extra === undefined) return false
  if (tag === "Interval") {
    return plain(u, 4 + extra) && finite(u["every"]) && finite(u["anchor"]) && finite(u["jitter"])
  }
  return tag === "Cron" && plain(u, 5 + extra) && typeof u["expression"] === "string" &&
    typeof u["timeZone"] === "string" && finite(u["jitter"]) &&
    (u["onDstOverlap"] === "earlier" || u["onDstOverlap"] === "later" || u["onDstOverlap"] === "both")
}

const trigger = (u: unknown): boolean => typeof u === "object" && u !== null && triggerShape(u)

const misfireThen = (u: unknown): boolean => {
  if (typeof u !== "object" || u === null) return false
  const tag: unknown = Reflect.get(u, "_tag")
  return tag === "Skip"
    ? plain(u, 1)
    : tag === "Coalesce"
    ? plain(u, 2) && (u["keep"] === "latest" || u["keep"] === "earliest")
    : tag === "CatchUp" && plain(u, 2) && int(u["max"], 1, 10_000)
}

const payload = (u: unknown): boolean =>
  u === null || typeof u === "string" || typeof u === "boolean" || finite(u) || (typeof u === "object" && isJson(u))

/**
 * Whether `u` is a job the schema accepts and encodes to itself (see the
 * module's header: `false` means "ask the schema", not "invalid").
 *
 * @internal
 */
export const conforms = (u: unknown): boolean => {
  // A getter or a proxy may throw while being read: then the schema decides.
  try {
    return conformsUnsafe(u)
  } catch {
    return false
  }
}

/**
 * `conforms` as a type guard: a value it accepts is a `Job.Job` as the
 * schema would decode it (its encoded form is itself), so a stored
 * definition that conforms needs no decoding.
 *
 * @internal
 */
export const isJob = (u: unknown): u is Job.Job => conforms(u)

const conformsUnsafe = (u: unknown): boolean => {
  if (!plain(u, 10)) return false
  const { overlap, misfire, retry, timeout } = u
  return text(u["id"], jobId) && text(u["task"], taskName) && typeof u["paused"] === "boolean" &&
    (u["onLost"] === "record" || u["onLost"] === "retry") &&
    (timeout === null || int(timeout, 1, Number.MAX_SAFE_INTEGER)) &&
    plain(overlap, 2) && int(overlap["max"], 1, 2_147_483_647) &&
    (overlap["onLimit"] === "skip" || overlap["onLimit"] === "wait") &&
    plain(misfire, 2) && int(misfire["grace"], 0, Number.MAX_SAFE_INTEGER) && misfireThen(misfire["then"]) &&
    plain(retry, 5) && int(retry["attempts"], 1, 1_000) && int(retry["base"], 0, Number.MAX_SAFE_INTEGER) &&
    finite(retry["factor"]) && retry["factor"] >= 1 && retry["factor"] <= 100 &&
    int(retry["cap"], 0, Number.MAX_SAFE_INTEGER) && typeof retry["jitter"] === "boolean" &&
    trigger(u["trigger"]) && payload(u["payload"])
}

// The policies a stored definition leaves out when they are `Job.defaults`
// (see `sparse`), and that reading it puts back (`withDefaults`).
const defaultPolicies: Readonly<Record<string, unknown>> = {
  overlap: Job.defaults.overlap,
  misfire: Job.defaults.misfire,
  retry: Job.defaults.retry,
  timeout: Job.defaults.timeout,
  onLost: Job.defaults.onLost
}

// Equal as JSON values (objects by their keys, whatever their order): the
// policies are small plain values.
const sameJson = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
  }
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && sameJson(Reflect.get(a, key), Reflect.get(b, key)))
}

/**
 * An encoded definition without the policies that equal `Job.defaults`:
 * what a job row stores. Most jobs name no policy, and the full form was
 * three quarters of a row: every insert, every claim's update of the row and
 * every read of it paid for it.
 *
 * @internal
 */
export const sparse = (definition: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(definition)) {
    if (!(Object.hasOwn(defaultPolicies, key) && sameJson(value, Reflect.get(defaultPolicies, key)))) out[key] = value
  }
  return out
}

/**
 * A stored definition with the default policies it leaves out put back
 * (the inverse of `sparse`; a definition stored in full reads the same).
 *
 * @internal
 */
export const withDefaults = (definition: Record<string, unknown>): Record<string, unknown> => ({
  ...defaultPolicies,
  ...definition
})

/**
 * The stored definition of a job that `conforms`: its encoded form without
 * `id` and `paused`, and without the policies it leaves at their defaults
 * (`sparse`). Spelled out rather than `sparse` of the full form: it runs
 * once per job of every `addMany` and registration, and the generic walk
 * took four times as long (80 against 24 ms per 100,000 jobs).
 *
 * @internal
 */
export const definitionOf = (job: Job.Job): Record<string, unknown> => {
  const definition: Record<string, unknown> = { task: job.task, payload: job.payload, trigger: job.trigger }
  if (!(job.overlap.max === Job.defaults.overlap.max && job.overlap.onLimit === Job.defaults.overlap.onLimit)) {
    definition["overlap"] = job.overlap
  }
  if (!sameJson(job.misfire, Job.defaults.misfire)) definition["misfire"] = job.misfire
  if (!sameJson(job.retry, Job.defaults.retry)) definition["retry"] = job.retry
  if (job.timeout !== Job.defaults.timeout) definition["timeout"] = job.timeout
  if (job.onLost !== Job.defaults.onLost) definition["onLost"] = job.onLost
  return definition
}

/**
 * Whether two jobs that both `conform` have the same stored definition,
 * without spelling either out: jobs declared together often differ only by
 * id (the trigger, payload and `misfire.then` compared by identity, the
 * rest by value).
 *
 * @internal
 */
export const sameDefinition = (a: Job.Job, b: Job.Job): boolean =>
  a.task === b.task && a.payload === b.payload && a.trigger === b.trigger && a.timeout === b.timeout &&
  a.onLost === b.onLost && a.overlap.max === b.overlap.max && a.overlap.onLimit === b.overlap.onLimit &&
  a.misfire.grace === b.misfire.grace && a.misfire.then === b.misfire.then && a.retry.attempts === b.retry.attempts &&
  a.retry.base === b.retry.base && a.retry.factor === b.retry.factor && a.retry.cap === b.retry.cap &&
  a.retry.jitter === b.retry.jitter
