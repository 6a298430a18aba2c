/**
 * Headless mode: serves the built renderer over HTTP on 127.0.0.1 and carries the IPC
 * contract over a WebSocket at /ipc. The socket requires the random token printed in
 * the URL (compared in constant time) and a loopback Host header, so neither another
 * local user's browser tab nor a DNS-rebinding page can drive the agents.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import { wsClientFrameSchema, type WsServerFrame, type WsServerMessage } from '../../shared/ipc'
import type { Host } from './host'

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
}

const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

export interface HeadlessOptions {
  host: Host
  staticDir: string
  port?: number
  bindHost?: string
  token?: string
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void
}

export interface HeadlessServer {
  url: string
  port: number
  token: string
  close(): Promise<void>
}

/** A request's URL, or undefined when it cannot be parsed (never throw in a request handler). */
function safeUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://localhost')
  } catch {
    return undefined
  }
}

function safePath(raw: string | undefined): string | undefined {
  const url = safeUrl(raw)
  if (!url) return undefined
  try {
    return decodeURIComponent(url.pathname)
  } catch {
    return undefined
  }
}

function tokenMatches(given: string | null, expected: string): boolean {
  if (!given) return false
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

function loopbackHost(req: IncomingMessage): boolean {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return host === '127.0.0.1' || host === 'localhost' || host === '::1'
}

export async function startHeadless(opts: HeadlessOptions): Promise<HeadlessServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url')
  const root = resolve(opts.staticDir)
  const log = opts.log ?? (() => undefined)
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`the renderer is not built (${join(root, 'index.html')} is missing): run npm run build`)
  }

  const server: Server = createServer((req, res) => {
    if (!loopbackHost(req)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden host')
      return
    }
    const path0 = safePath(req.url)
    if (path0 === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('malformed request URL')
      return
    }
    let path = path0
    if (path === '/' || path === '') path = '/index.html'
    const file = normalize(join(root, path))
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    })
    createReadStream(file).pipe(res)
  })

  const wss = new WebSocketServer({ noServer: true, maxPayload: 2 << 20 })
  server.on('upgrade', (req, socket, head) => {
    const url = safeUrl(req.url)
    if (!url || url.pathname !== '/ipc' || !loopbackHost(req) || !tokenMatches(url.searchParams.get('token'), token)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => attach(ws))
  })

  function attach(ws: WebSocket): void {
    // Everything for this socket within one turn of the loop (event batches, results) goes
    // out as one WebSocket message: one write syscall instead of one per frame.
    let out: WsServerFrame[] = []
    let pending = false
    const sendOut = () => {
      pending = false
      const frames = out
      out = []
      if (!frames.length || ws.readyState !== ws.OPEN) return
      const message: WsServerMessage = frames.length === 1 ? (frames[0] as WsServerFrame) : { kind: 'batch', frames }
      ws.send(JSON.stringify(message))
    }
    const send = (frame: WsServerFrame) => {
      out.push(frame)
      if (pending) return
      pending = true
      setImmediate(sendOut)
    }
    // Only the output of the terminals this page subscribed to, batched (see connection.ts).
    const conn = opts.host.connect((batch) => {
      for (const e of batch) send({ kind: 'event', event: e.event, payload: e.payload })
    })
    const off = opts.host.onEvent((event, payload) => conn.push(event, payload))
    ws.on('close', () => {
      off()
      conn.close()
    })
    ws.on('message', async (data, isBinary) => {
      if (isBinary) return
      let raw: unknown
      try {
        raw = JSON.parse(data.toString())
      } catch {
        log('warn', 'headless client sent a frame that is not JSON; dropped')
        return
      }
      const frame = wsClientFrameSchema.safeParse(raw)
      if (!frame.success) {
        log('warn', 'headless client sent a malformed frame; dropped')
        return
      }
      const outcome = await conn.invoke(frame.data.command, frame.data.request)
      // Events emitted before the result go first (a snapshot must not overtake its own bytes).
      conn.flush()
      send({ kind: 'result', id: frame.data.id, outcome })
    })
  }

  await new Promise<void>((res, rej) => {
    server.once('error', rej)
    server.listen(opts.port ?? 0, opts.bindHost ?? '127.0.0.1', () => res())
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    async close() {
      for (const c of wss.clients) c.close(1001, 'server shutting down')
      wss.close()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
