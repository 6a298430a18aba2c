/** This machine's floors, measured beside the relay's figures: what no message path can beat. */
import { performance } from 'node:perf_hooks'
import * as pty from 'node-pty'
import WebSocket, { WebSocketServer } from 'ws'

/** Loopback WebSocket round trip of a 100-byte frame, client and server on this thread. */
export async function floorWsRoundTrip(n: number): Promise<number[]> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (s) => s.on('message', (d) => s.send(d)))
  const port = (wss.address() as { port: number }).port
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  await new Promise((r) => ws.once('open', r))
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((r) => {
      ws.once('message', () => r())
      ws.send(JSON.stringify({ i, text: 'x'.repeat(100) }))
    })
    out.push(performance.now() - t0)
  }
  ws.close()
  wss.close()
  return out
}

/** A line written to a `cat` PTY until its echo is read back. */
export async function floorPtyEcho(n: number): Promise<number[]> {
  const p = pty.spawn('cat', [], { cols: 200, rows: 30, cwd: '/tmp', env: process.env as Record<string, string> })
  let buf = ''
  let waiter: (() => void) | undefined
  let needle = ''
  p.onData((d) => {
    buf += d
    if (waiter && buf.includes(needle)) waiter()
  })
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    needle = `floor-${i}-end`
    buf = ''
    const t0 = performance.now()
    await new Promise<void>((r) => {
      waiter = r
      p.write(`${needle}\r`)
    })
    out.push(performance.now() - t0)
  }
  p.kill()
  return out
}
