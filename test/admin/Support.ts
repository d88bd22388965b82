/**
 * A real admin server for the admin API tests: a scheduler on this file's
 * PostgreSQL database, served by `Admin.serve` on an ephemeral port, and
 * requests over the network with `fetch`.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Schema } from "effect"
import { HttpServer } from "effect/http"
import { Admin, type Auth } from "steadfast/admin"
import { JobStore } from "../../src/JobStore.ts"
import * as Scheduler from "../../src/Scheduler.ts"
import * as Task from "../../src/Task.ts"
import * as FaultyJobStore from "../../src/testing/FaultyJobStore.ts"
import * as Pg from "../support/Pg.ts"

export const operatorSecret = "operator-secret-0123456789"
export const viewerSecret = "viewer-secret-0123456789"
export const rotatedSecret = "operator-secret-rotated-42"

export const tokens: ReadonlyArray<Auth.Token> = [
  { name: "ops", role: "operator", secret: Redacted.make(operatorSecret) },
  { name: "ops-next", role: "operator", secret: Redacted.make(rotatedSecret) },
  { name: "dashboards", role: "viewer", secret: Redacted.make(viewerSecret) }
]

/** Runs of `echo` so far, by job id (the handler's own record). */
export const echoed: Array<{ readonly jobId: string; readonly n: number }> = []

export const echo = Task.make("echo", Schema.Struct({ n: Schema.Number }), ({ n }, { jobId }) =>
  Effect.sync(() => void echoed.push({ jobId, n })))

export const failing = Task.make("failing", Schema.Null, () => Effect.fail("boom"))

/** Where the server listens, and the services behind it. */
export class Target extends Context.Service<Target, { readonly url: string }>()("test/admin/Target") {}

export const serverLayer = (options: {
  readonly schema: string
  readonly prefix?: string
  readonly publicProbes?: boolean
  readonly tasks?: ReadonlyArray<Task.Any>
  /** Faults to inject into the store (see `FaultyJobStore`). */
  readonly plan?: FaultyJobStore.Plan
}) => {
  const pg = Pg.layerStore({ schema: options.schema })
  const store = options.plan === undefined ? pg : FaultyJobStore.layer(options.plan).pipe(Layer.provide(pg))
  const scheduler = Scheduler.layer({
    tasks: options.tasks ?? [echo, failing],
    pollInterval: "200 millis",
    shutdownGrace: "200 millis"
  })
  const server = Admin.serve({
    port: 0,
    tokens,
    ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
    ...(options.publicProbes === undefined ? {} : { publicProbes: options.publicProbes })
  })
  return targetLayer(options.prefix ?? "").pipe(
    Layer.provideMerge(server),
    Layer.provideMerge(scheduler),
    Layer.provideMerge(store)
  )
}

/** The URL of the `HttpServer` of the context, with `prefix`. */
export const targetLayer = (prefix: string) =>
  Layer.effect(
    Target,
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address
      if (address._tag === "UnixPathAddress") return yield* Effect.die(new Error("not a TCP server"))
      return { url: `http://127.0.0.1:${address.port}${prefix}` }
    })
  )

export type Services = Target | Scheduler.Scheduler | JobStore

/** A response: its status, its body parsed as JSON when it is JSON, and the raw text. */
export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly text: string
  readonly headers: Headers
}

export const request = (
  method: string,
  path: string,
  options: {
    readonly token?: string | undefined
    readonly body?: unknown
    readonly headers?: Record<string, string> | undefined
  } = {}
): Effect.Effect<Reply, never, Target> =>
  Effect.gen(function*() {
    const { url } = yield* Target
    return yield* Effect.promise(async () => {
      const headers: Record<string, string> = { ...options.headers }
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
      if (options.body !== undefined) headers["content-type"] = "application/json"
      const response = await fetch(`${url}${path}`, {
        method,
        headers,
        signal: AbortSignal.timeout(10_000),
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
      })
      const text = await response.text()
      let body: unknown = undefined
      try {
        body = text === "" ? undefined : JSON.parse(text)
      } catch {
        body = undefined
      }
      return { status: response.status, body, text, headers: response.headers }
    })
  })

export const asOperator = (method: string, path: string, body?: unknown) =>
  request(method, path, { token: operatorSecret, body })

export const asViewer = (method: string, path: string, body?: unknown) =>
  request(method, path, { token: viewerSecret, body })

/** A field of a JSON object body. */
export const field = (body: unknown, name: string): unknown =>
  typeof body === "object" && body !== null ? Reflect.get(body, name) : undefined

/** A job as the API takes it: far in the future unless told, so it never fires during a test. */
export const newJob = (id: string, overrides: Record<string, unknown> = {}) => ({
  id,
  task: "echo",
  payload: { n: 1 },
  trigger: { _tag: "Once", at: Date.now() + 365 * 86_400_000 },
  ...overrides
})

/** Reads the Server-Sent Events at `path` (as a viewer) until a message satisfies `found`, for at most `ms`, calling `poke` every 300 ms meanwhile. */
export const awaitEvent = (path: string, found: (message: unknown) => boolean, ms: number, poke: Effect.Effect<unknown, never, Target>) =>
  Effect.gen(function*() {
    const { url } = yield* Target
    const controller = new AbortController()
    const response = yield* Effect.promise(() =>
      fetch(`${url}${path}`, { headers: { authorization: `Bearer ${viewerSecret}` }, signal: controller.signal })
    )
    assert.strictEqual(response.status, 200)
    assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    let message: unknown = undefined
    const deadline = Date.now() + ms
    let nextPoke = 0
    while (message === undefined && Date.now() < deadline) {
      if (Date.now() >= nextPoke) {
        yield* poke
        nextPoke = Date.now() + 300
      }
      const chunk = yield* Effect.promise(() =>
        Promise.race([reader.read(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 300))])
      )
      if (chunk === undefined || chunk.done === true) continue
      buffer += decoder.decode(chunk.value, { stream: true })
      const events = buffer.split("\n\n")
      buffer = events.pop() ?? ""
      for (const event of events) {
        const data = event.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n")
        if (data === "") continue
        const parsed: unknown = JSON.parse(data)
        if (found(parsed)) message = parsed
      }
    }
    controller.abort()
    return message
  })
