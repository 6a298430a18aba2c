/**
 * A TCP load balancer for tests, the part of a team's setup in front of several engine
 * instances: each accepted connection is piped to the next backend (round robin) that
 * accepts a connection, skipping ones that refuse. It knows nothing of HTTP or WebSocket,
 * so what passes through is exactly what the app and the engine wrote.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface TcpBalancer {
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** Open client connections per backend index (a WebSocket shows as a long-lived one). */
  openTo(backend: number): number
  close(): Promise<void>
}

export async function startTcpBalancer(backends: string[]): Promise<TcpBalancer> {
  const targets = backends.map((u) => new URL(u))
  const open = targets.map(() => new Set<Socket>())
  let next = 0

  const pipeTo = (client: Socket, attempt: number): void => {
    if (attempt >= targets.length) {
      client.destroy()
      return
    }
    const i = next++ % targets.length
    const target = targets[i] as URL
    const upstream = connect(Number(target.port), target.hostname)
    let connected = false
    upstream.once('connect', () => {
      connected = true
      open[i]?.add(client)
      client.pipe(upstream).pipe(client)
      const done = () => {
        open[i]?.delete(client)
        client.destroy()
        upstream.destroy()
      }
      client.once('close', done)
      upstream.once('close', done)
      client.on('error', done)
      upstream.on('error', done)
      client.resume()
    })
    // Refused (the instance is down): the next backend gets this client.
    upstream.once('error', () => {
      if (!connected) pipeTo(client, attempt + 1)
    })
  }

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    client.on('error', () => client.destroy())
    pipeTo(client, 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    openTo: (i) => open[i]?.size ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const set of open) for (const s of set) s.destroy()
        server.close(() => resolve())
      }),
  }
}
