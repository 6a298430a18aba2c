/**
 * `GET /v1/node/ws` upgrade handling. Auth happens before the upgrade so a bad
 * token gets a plain HTTP 401 (the broker re-mints its token on 401).
 */
import type { IncomingMessage, Server } from 'node:http'
import { performance } from 'node:perf_hooks'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_BODY_BYTES, type EngineContext } from '../context'
import { bearerToken, resolveToken } from '../http/auth'
import { errorBody } from '../http/envelope'
import type { NodeRow } from '../store/types'
import { NodeConnection } from './connection'
import { handleFrame } from './handlers'

export const NODE_WS_PATH = '/v1/node/ws'

/** A node frame that took longer than this from arrival to handled is logged (ms). */
export const SLOW_FRAME_MS = 1000

/** The `type` of a frame for a log line, without parsing more than needed. */
function frameType(text: string): string {
  return /"type"\s*:\s*"([\w.]{1,40})"/.exec(text.slice(0, 200))?.[1] ?? 'unknown'
}
export const USER_WS_PATH = '/v1/user/ws'

function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify(errorBody(code, message))
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  )
  socket.destroy()
}

export interface NodeSocketServer {
  /** Closes every node socket with `reason` and stops accepting upgrades. */
  close(reason: string): Promise<void>
}

export function attachNodeSocket(server: Server, ctx: EngineContext): NodeSocketServer {
  // maxPayload: ws closes the socket (1009) on an oversized frame instead of buffering it.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES })
  let closing = false

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    upgrade(req, socket, head).catch((err: unknown) => {
      ctx.log('error', 'websocket upgrade failed', { error: String(err) })
      rejectUpgrade(socket, 500, 'internal_error', 'upgrade failed')
    })
  }

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    socket.on('error', () => socket.destroy())
    if (closing) return rejectUpgrade(socket, 503, 'shutting_down', 'engine is shutting down')
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      // e.g. `GET //[ HTTP/1.1`: a thrown URL error here would take the engine down.
      return rejectUpgrade(socket, 400, 'bad_request', 'malformed request URL')
    }
    if (url.pathname === USER_WS_PATH) return onUserUpgrade(req, socket, head, url)
    if (url.pathname !== NODE_WS_PATH) return rejectUpgrade(socket, 404, 'not_found', 'no websocket at this path')
    const token = bearerToken(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined
    if (!token) return rejectUpgrade(socket, 401, 'unauthorized', 'missing node token')
    const principal = await resolveToken(ctx.store, token)
    if (closing) return rejectUpgrade(socket, 503, 'shutting_down', 'engine is shutting down')
    if (!principal || principal.kind !== 'node') return rejectUpgrade(socket, 401, 'invalid_token', 'node token is not valid')
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, principal.node))
  }

  const onUserUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> => {
    const token = bearerToken(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined
    if (!token) return rejectUpgrade(socket, 401, 'unauthorized', 'missing agent token')
    const principal = await resolveToken(ctx.store, token)
    if (!principal) return rejectUpgrade(socket, 401, 'invalid_token', 'token is not valid')
    if (principal.kind !== 'agent' || principal.agent.type !== 'human') {
      return rejectUpgrade(socket, 403, 'forbidden', 'the user socket needs the at_live_ token of a human agent')
    }
    const raw = url.searchParams.get('cursor')
    let cursor = principal.agent.deliveryAckSeq
    if (raw !== null) {
      if (!/^\d{1,15}$/.test(raw)) return rejectUpgrade(socket, 400, 'invalid_request', 'cursor: must be a non-negative integer')
      cursor = Number(raw)
    }
    ctx.hub.accept(req, socket, head, principal.agent, cursor)
  }

  const onConnection = (ws: WebSocket, node: NodeRow): void => {
    const conn = new NodeConnection(node.id, node.workspaceId, ws, ctx.log)
    const superseded = ctx.router.attach(conn)
    superseded?.close('superseded')
    ctx.log('info', 'node socket connected', { node_id: node.id, conn_id: conn.connId })
    ws.on('message', (data, isBinary) => {
      // Binary frames are not part of the wire; they fall through to invalid_message.
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
      const text = isBinary ? '' : buf.toString('utf8')
      const queuedAt = performance.now()
      void conn.serialize(async () => {
        const startedAt = performance.now()
        await handleFrame(ctx, conn, text)
        const ran = performance.now() - startedAt
        // A frame that waited or ran this long holds up the node (acks, registers): say so, with where the time went.
        if (startedAt - queuedAt + ran > SLOW_FRAME_MS) {
          ctx.log('warn', 'slow node frame', { node_id: node.id, type: frameType(text), waited_ms: Math.round(startedAt - queuedAt), ran_ms: Math.round(ran) })
        }
      })
    })
    ws.on('close', (code, reason) => {
      // Only the node's current socket takes it offline; a superseded one just goes away.
      if (ctx.router.detach(conn)) {
        // Behind the socket's pending frames: a node.register in flight must not land after this.
        void conn.serialize(async () => {
          if (await ctx.store.nodes.markLost(node.id, { socketId: conn.connId })) await ctx.actions.nodeLost(node.id)
        })
      }
      ctx.log('info', 'node socket closed', { node_id: node.id, code, reason: reason.toString() })
    })
    ws.on('error', (err) => ctx.log('warn', 'node socket error', { node_id: node.id, error: String(err) }))
  }

  server.on('upgrade', onUpgrade)

  return {
    async close(reason: string): Promise<void> {
      closing = true
      server.off('upgrade', onUpgrade)
      await Promise.all(
        [...wss.clients].map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve()
              // Don't let a silent peer hold shutdown hostage.
              const t = setTimeout(() => ws.terminate(), 1000)
              ws.once('close', () => { clearTimeout(t); resolve() })
              ws.close(1001, reason.slice(0, 120))
            }),
        ),
      )
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}
