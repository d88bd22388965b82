/**
 * A TCP proxy between scheduler processes and PostgreSQL, for connection
 * faults: drop every connection, refuse new ones for a while, or cut a
 * connection exactly when a chosen SQL text goes through it.
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
  readonly connections: () => number
  readonly close: () => Promise<void>
}

export const start = async (target: { host: string; port: number }): Promise<TcpProxy> => {
  const sockets = new Set<net.Socket>()
  let down = false
  let trap: { marker: Buffer; resolve: () => void } | undefined

  const server = net.createServer((client) => {
    if (down) {
      client.destroy()
      return
    }
    const upstream = net.connect(target.port, target.host)
    sockets.add(client)
    sockets.add(upstream)
    const close = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on("data", (chunk: Buffer) => {
      if (trap !== undefined && chunk.includes(trap.marker)) {
        const { resolve } = trap
        trap = undefined
        close()
        resolve()
        return
      }
      upstream.write(chunk)
    })
    upstream.on("data", (chunk: Buffer) => client.write(chunk))
    client.on("error", close)
    upstream.on("error", close)
    client.on("close", close)
    upstream.on("close", close)
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
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    setDown: (value) => {
      down = value
    },
    cutOn: (marker) => new Promise<void>((resolve) => {
      trap = { marker: Buffer.from(marker), resolve }
    }),
    connections: () => sockets.size / 2,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
