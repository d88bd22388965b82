/**
 * The dashboard's sessions: a login with a token opens a session whose id (a
 * random value, never the token) travels in an HttpOnly, SameSite=Strict
 * cookie and maps, in this process's memory, to the token's role and the
 * session's CSRF token. Every POST must carry that CSRF token (a hidden form
 * field or the `x-csrf-token` header) and come from this origin (`Origin`,
 * else `Referer`; `Sec-Fetch-Site: cross-site` is refused outright).
 *
 * Sessions live in memory: a restart logs everyone out, which for an
 * operator's console is the safe side.
 *
 * @since 0.4.0
 */
import * as crypto from "node:crypto"
import type * as Auth from "../Auth.ts"

const digest = (value: string) => crypto.createHash("sha256").update(value, "utf8").digest()

/**
 * Whether two strings are equal, in time that does not depend on where they differ.
 *
 * @since 0.4.0
 */
export const safeEqual = (a: string, b: string): boolean => crypto.timingSafeEqual(digest(a), digest(b))

/**
 * A fresh random value: 32 bytes, base64url.
 *
 * @since 0.4.0
 */
export const randomToken = (): string => crypto.randomBytes(32).toString("base64url")

/**
 * One logged-in browser.
 *
 * @since 0.4.0
 */
export interface Session {
  readonly id: string
  /** The token's name (never its secret) and role. */
  readonly principal: Auth.Principal
  readonly csrf: string
  readonly expiresAt: number
}

/**
 * The sessions of one dashboard.
 *
 * @since 0.4.0
 */
export interface Sessions {
  readonly open: (principal: Auth.Principal) => Session
  readonly get: (id: string | undefined) => Session | undefined
  readonly close: (id: string | undefined) => void
  /** Keeps a message for the session's next page (after a redirect). */
  readonly flash: (id: string, flash: Flash) => void
  readonly takeFlash: (id: string) => Flash | undefined
}

/**
 * A message for the next page: what an action did, or why it failed.
 *
 * @since 0.4.0
 */
export interface Flash {
  readonly message: string
  readonly error: boolean
}

/**
 * In-memory sessions, each valid for `ttlMs`; at most `max` at once per
 * token (the oldest of that token's goes first), so logins cannot grow
 * memory without bound, and a flood of logins with one token (a viewer's)
 * never logs out the holders of another.
 *
 * @since 0.4.0
 */
export const makeSessions = (options: { readonly ttlMs: number; readonly max?: number | undefined }): Sessions => {
  const sessions = new Map<string, Session>()
  const flashes = new Map<string, Flash>()
  const max = options.max ?? 1_000
  const drop = (id: string) => {
    sessions.delete(id)
    flashes.delete(id)
  }
  return {
    open: (principal) => {
      const now = Date.now()
      let same = 0
      let oldest: string | undefined
      // In the map's order: oldest first.
      for (const [id, session] of sessions) {
        if (session.expiresAt <= now) {
          drop(id)
        } else if (session.principal.name === principal.name) {
          same++
          oldest ??= id
        }
      }
      if (same >= max && oldest !== undefined) drop(oldest)
      const session: Session = { id: randomToken(), principal, csrf: randomToken(), expiresAt: Date.now() + options.ttlMs }
      sessions.set(session.id, session)
      return session
    },
    get: (id) => {
      if (id === undefined) return undefined
      const session = sessions.get(id)
      if (session === undefined) return undefined
      if (session.expiresAt <= Date.now()) {
        sessions.delete(id)
        flashes.delete(id)
        return undefined
      }
      return session
    },
    close: (id) => {
      if (id === undefined) return
      sessions.delete(id)
      flashes.delete(id)
    },
    flash: (id, flash) => {
      if (sessions.has(id)) flashes.set(id, flash)
    },
    takeFlash: (id) => {
      const flash = flashes.get(id)
      flashes.delete(id)
      return flash
    }
  }
}

/**
 * Why a POST is refused before anything else is looked at, or `undefined`
 * when it comes from this origin: a browser marks a cross-site request with
 * `Sec-Fetch-Site` and `Origin`; with neither, `Referer` must name this host.
 * `allowed` adds origins (`https://ops.example.com`) for deployments behind a
 * proxy that rewrites `Host`.
 *
 * @since 0.4.0
 */
export const crossSite = (
  headers: Readonly<Record<string, string | undefined>>,
  allowed: ReadonlyArray<string>
): string | undefined => {
  if (headers["sec-fetch-site"] === "cross-site") return "cross-site request"
  const host = headers["host"]
  const source = headers["origin"] ?? headers["referer"]
  if (source === undefined || source === "null") return "no Origin or Referer"
  const url = URL.parse(source)
  if (url === null) return "malformed Origin"
  if (url.host === host || allowed.includes(url.origin)) return undefined
  return `origin ${url.origin} is not this dashboard's`
}
