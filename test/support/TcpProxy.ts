/**
 * A TCP proxy between scheduler processes and PostgreSQL, for network faults:
 *
 * - drop every connection (RST-like: both ends see the close), refuse new
 *   ones for a while, cut a connection when a chosen SQL text goes through;
 * - blackhole: connections stay open and nothing is forwarded either way,
 *   and no close is passed on (a dead link, a NAT that forgot the flow, a
 *   failover: no RST). For all connections at once, or for the one that
 *   sends a chosen SQL text. A blackholed connection stays dead after the
 *   blackhole is lifted (its bytes are gone); new connections work again;
 * - stall: bytes are held, both ways, and delivered in order when released
 *   (a link that comes back: TCP retransmits);
 * - withhold a reply: forward the statement that contains a chosen SQL text
 *   and swallow everything the server sends back on that connection from
 *   then on.
 *
 * Markers match the bytes a client sends: with prepared statements a SQL
 * text travels once per connection (in its Parse message), with
 * `prepare: false` on every execution.
 */
import * as net from "node:net"

export interface TcpProxy {
  readonly port: number
  /** URL `url` rewritten to go through the proxy. */
  readonly via: (url: string) => string
  /** Destroys every open connection. */
  readonly dropAll: () => void
  /** While down, new connections are accepted and closed at once (like a server refusing them). */
  readonly setDown: (down: boolean) => void
  /**
   * Cuts the first connection whose client sends bytes containing `marker`,
   * before forwarding them (the statement never reaches the server). Resolves
   * when it has cut one.
   */
  readonly cutOn: (marker: string) => Promise<void>
  /**
   * While on, every open connection and every new one is blackholed: nothing
   * is forwarded, nothing is closed. Connections blackholed stay so after it
   * is turned off.
   */
  readonly setBlackhole: (on: boolean) => void
  /**
   * Blackholes the first connection whose client sends bytes containing
   * `marker`, from those bytes on (they never reach the server). With
   * `everything`, the whole proxy goes into blackhole at that instant, as
   * `setBlackhole(true)`. Resolves when it happened.
   */
  readonly blackholeOn: (marker: string, options?: { readonly everything?: boolean }) => Promise<void>
  /**
   * Blackholes, from now on, every open connection whose client has sent
   * bytes containing `marker` (among its first 64 KiB), e.g. `"LISTEN"` for
   * a listening connection. Returns how many.
   */
  readonly blackholeSent: (marker: string) => number
  /** While on, bytes are held both ways; turning it off delivers them in order. */
  readonly setStalled: (on: boolean) => void
  /**
   * Forwards the first client bytes containing `marker`, then swallows
   * everything the server sends on that connection. Resolves when the marker
   * went through. With `after`, only bytes sent right after bytes containing
   * `after` on the same connection count (e.g. the `COMMIT` that follows a
   * claim's write, not any `COMMIT`).
   */
  readonly withholdReplyTo: (marker: string, options?: { readonly after?: string }) => Promise<void>
  /** Open connections (blackholed ones included). */
  readonly connections: () => number
  /** Connections blackholed so far. */
  readonly blackholed: () => number
  /**
   * Connections that worked, then were blackholed, and whose client has since
   * closed its end (it gave up on them).
   */
  readonly silentClosed: () => number
  readonly close: () => Promise<void>
}

type Trap =
  | { readonly kind: "cut"; readonly marker: Buffer; readonly resolve: () => void }
  | { readonly kind: "blackhole"; readonly marker: Buffer; readonly everything: boolean; readonly resolve: () => void }
  | {
    readonly kind: "withhold"
    readonly marker: Buffer
    readonly after: Buffer | undefined
    /** Connections whose last bytes contained `after`. */
    readonly primed: Set<Link>
    readonly resolve: () => void
  }

interface Link {
  readonly client: net.Socket
  upstream: net.Socket | undefined
  /** Nothing is forwarded, no close is passed on. */
  dead: boolean
  /** The server's bytes are swallowed. */
  withheld: boolean
  readonly held: Array<{ readonly toClient: boolean; readonly chunk: Buffer }>
  /** The first bytes the client sent (for `blackholeSent`). */
  head: Buffer
  /** The client closed its end. */
  clientGone: boolean
}

export const start = async (target: { host: string; port: number }): Promise<TcpProxy> => {
  const links = new Set<Link>()
  let down = false
  let blackhole = false
  let stalled = false
  let everBlackholed = 0
  let silentClosed = 0
  const traps: Array<Trap> = []

  const kill = (link: Link) => {
    if (!link.dead) everBlackholed++
    link.dead = true
    link.held.length = 0
  }
  const destroy = (link: Link) => {
    link.client.destroy()
    link.upstream?.destroy()
    links.delete(link)
  }
  const deliver = (link: Link, toClient: boolean, chunk: Buffer) => {
    if (link.dead || (toClient && link.withheld)) return
    if (stalled) {
      link.held.push({ toClient, chunk })
      return
    }
    if (toClient) link.client.write(chunk)
    else link.upstream?.write(chunk)
  }
  const connectUpstream = (link: Link) => {
    const upstream = net.connect(target.port, target.host)
    link.upstream = upstream
    upstream.on("data", (chunk: Buffer) => deliver(link, true, chunk))
    // A dead link passes no close on: the other end keeps waiting, as across a dead network.
    const closed = () => {
      if (!link.dead) destroy(link)
      else if (link.clientGone) links.delete(link)
    }
    upstream.on("error", closed)
    upstream.on("close", closed)
  }

  const onClientData = (link: Link, chunk: Buffer) => {
    if (link.dead) return
    if (link.head.length < 65_536) link.head = Buffer.concat([link.head, chunk]).subarray(0, 65_536)
    const index = traps.findIndex((trap) =>
      chunk.includes(trap.marker) && (trap.kind !== "withhold" || trap.after === undefined || trap.primed.has(link))
    )
    for (const trap of traps) {
      if (trap.kind !== "withhold" || trap.after === undefined) continue
      if (chunk.includes(trap.after)) trap.primed.add(link)
      else trap.primed.delete(link)
    }
    if (index >= 0) {
      const [trap] = traps.splice(index, 1)
      if (trap !== undefined) {
        switch (trap.kind) {
          case "cut":
            destroy(link)
            trap.resolve()
            return
          case "blackhole":
            kill(link)
            if (trap.everything) setBlackhole(true)
            trap.resolve()
            return
          case "withhold":
            deliver(link, false, chunk)
            link.withheld = true
            trap.resolve()
            return
        }
      }
    }
    deliver(link, false, chunk)
  }

  const setBlackhole = (on: boolean) => {
    blackhole = on
    if (on) for (const link of links) kill(link)
  }

  const server = net.createServer((client) => {
    if (down) {
      client.destroy()
      return
    }
    const link: Link = { client, upstream: undefined, dead: false, withheld: false, held: [], head: Buffer.alloc(0), clientGone: false }
    links.add(link)
    // Born in a blackhole: the server never hears of it (a SYN that got nowhere).
    if (blackhole) kill(link)
    else connectUpstream(link)
    client.on("data", (chunk: Buffer) => onClientData(link, chunk))
    const closed = () => {
      if (link.dead) {
        // The client gave up; the server, behind the dead link, never hears of it.
        // Counted for connections that worked before they went silent.
        if (!link.clientGone && link.upstream !== undefined) silentClosed++
        link.clientGone = true
        client.destroy()
        if (link.upstream === undefined || link.upstream.destroyed) links.delete(link)
        return
      }
      destroy(link)
    }
    client.on("error", closed)
    client.on("close", closed)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0

  return {
    port,
    via: (url) => {
      const parsed = new URL(url)
      parsed.hostname = "127.0.0.1"
      parsed.port = String(port)
      return parsed.toString()
    },
    dropAll: () => {
      for (const link of [...links]) destroy(link)
    },
    setDown: (value) => {
      down = value
    },
    cutOn: (marker) => new Promise<void>((resolve) => traps.push({ kind: "cut", marker: Buffer.from(marker), resolve })),
    setBlackhole,
    blackholeOn: (marker, options) =>
      new Promise<void>((resolve) =>
        traps.push({ kind: "blackhole", marker: Buffer.from(marker), everything: options?.everything ?? false, resolve })
      ),
    blackholeSent: (marker) => {
      const needle = Buffer.from(marker)
      let count = 0
      for (const link of links) {
        if (link.dead || !link.head.includes(needle)) continue
        kill(link)
        count++
      }
      return count
    },
    setStalled: (on) => {
      stalled = on
      if (on) return
      for (const link of links) {
        const held = link.held.splice(0)
        for (const { toClient, chunk } of held) deliver(link, toClient, chunk)
      }
    },
    withholdReplyTo: (marker, options) =>
      new Promise<void>((resolve) =>
        traps.push({
          kind: "withhold",
          marker: Buffer.from(marker),
          after: options?.after === undefined ? undefined : Buffer.from(options.after),
          primed: new Set(),
          resolve
        })
      ),
    connections: () => links.size,
    blackholed: () => everBlackholed,
    silentClosed: () => silentClosed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const link of [...links]) destroy(link)
        server.close(() => resolve())
      })
  }
}
