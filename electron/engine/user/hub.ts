/**
 * Human clients (the desktop UI, a browser): `GET /v1/user/ws?token=at_live_…` of a
 * `human` agent (or `Authorization: Bearer`). The upstream PresenceRegistry +
 * CloudMessageBus idea without its flaws: scoped to the token's workspace, durable
 * (every push is a delivery row of that user, so `?cursor=N` replays what a client
 * missed while offline), and fan-out to every open connection of the user.
 *
 * Server → client frames (JSON text):
 *   {type:'hello', v:1, user, agent_id, cursor, high_water}
 *   {type:'message', v:1, cursor, seq, delivery_id, event, message}      cursor = the user's delivery seq
 *   {type:'delivery.updated', v:1, message_id, agent_name, status, at}   for messages this user sent
 *   {type:'delivery.failed', v:1, message_id, recipient, reason, retryable:false}
 *   {type:'acked', v:1, up_to_seq}  ·  {type:'pong', v:1}  ·  {type:'error', v:1, code, message}
 * Client → server: {type:'ack', up_to_seq}  ·  {type:'ping'}
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { MAX_BODY_BYTES, type Logger } from '../context'
import type { DeliveryRouter } from '../mailbox/router'
import { messagePayload } from '../mailbox/payload'
import type { AgentRow, DeliveryRow, Store } from '../store/types'
import { iso } from '../views'

/** At most this many rows are replayed per connect; the client reconnects with its new cursor for more. */
export const USER_REPLAY_LIMIT = 5000

interface UserConn {
  ws: WebSocket
  agentId: string
  workspaceId: string
  connectedAt: number
}

export interface UserPresence {
  agentId: string
  name: string
  connections: number
  connectedAt: number
}

export class UserHub {
  private readonly byAgent = new Map<string, Set<UserConn>>()
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES })

  constructor(
    private readonly store: Store,
    private readonly router: DeliveryRouter,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  count(agentId: string): number {
    return this.byAgent.get(agentId)?.size ?? 0
  }

  usersIn(workspaceId: string): UserPresence[] {
    const out: UserPresence[] = []
    for (const [agentId, set] of this.byAgent) {
      const first = [...set][0]
      if (!first || first.workspaceId !== workspaceId) continue
      const agent = this.store.agents.get(agentId)
      out.push({ agentId, name: agent?.name ?? agentId, connections: set.size, connectedAt: Math.min(...[...set].map((c) => c.connectedAt)) })
    }
    return out.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Upgrade for an already-authenticated human agent. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, agent: AgentRow, cursor: number): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, agent, cursor))
  }

  private onConnection(ws: WebSocket, agent: AgentRow, cursor: number): void {
    const conn: UserConn = { ws, agentId: agent.id, workspaceId: agent.workspaceId, connectedAt: this.now() }
    const fresh = this.store.agents.get(agent.id) ?? agent
    this.send(conn, { type: 'hello', v: 1, user: fresh.name, agent_id: fresh.id, cursor: fresh.deliveryAckSeq, high_water: fresh.deliverySeq })
    // Replay and going live happen in the same tick: no post can interleave (the store
    // is synchronous), so the client sees every seq above its cursor exactly once, in order.
    const rows = this.store.mail.deliveriesAfter(agent.id, cursor, USER_REPLAY_LIMIT)
    const changed: DeliveryRow[] = []
    for (const row of rows) {
      this.send(conn, this.messageFrame(row))
      if (row.status === 'queued' && this.store.mail.markDelivered(row.id, this.now())) changed.push({ ...row, status: 'delivered', deliveredAt: this.now() })
    }
    let set = this.byAgent.get(agent.id)
    if (!set) this.byAgent.set(agent.id, (set = new Set()))
    set.add(conn)
    this.router.changed(changed)
    this.store.agents.touch(agent.id, this.now())

    ws.on('message', (data, isBinary) => this.onFrame(conn, isBinary ? '' : data.toString()))
    ws.on('close', () => {
      const s = this.byAgent.get(agent.id)
      s?.delete(conn)
      if (s && s.size === 0) this.byAgent.delete(agent.id)
      this.store.agents.touch(agent.id, this.now())
    })
    ws.on('error', (err) => this.log('warn', 'user socket error', { agent_id: agent.id, error: String(err) }))
  }

  private onFrame(conn: UserConn, text: string): void {
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      return this.send(conn, { type: 'error', v: 1, code: 'invalid_message', message: 'frame is not valid JSON' })
    }
    const f = frame as { type?: unknown; up_to_seq?: unknown }
    if (f && f.type === 'ack') {
      if (typeof f.up_to_seq !== 'number' || !Number.isInteger(f.up_to_seq) || f.up_to_seq < 0) {
        return this.send(conn, { type: 'error', v: 1, code: 'invalid_message', message: 'up_to_seq: must be a non-negative integer' })
      }
      this.router.flushWrites()
      this.router.acked(conn.agentId, f.up_to_seq, this.store.mail.ackUpTo(conn.agentId, f.up_to_seq, this.now()))
      const agent = this.store.agents.get(conn.agentId)
      return this.send(conn, { type: 'acked', v: 1, up_to_seq: agent?.deliveryAckSeq ?? f.up_to_seq })
    }
    if (f && f.type === 'ping') {
      this.store.agents.touch(conn.agentId, this.now())
      return this.send(conn, { type: 'pong', v: 1 })
    }
    this.send(conn, { type: 'error', v: 1, code: 'invalid_message', message: 'unknown frame type (expected ack or ping)' })
  }

  private send(conn: UserConn, frame: object): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame))
  }

  private broadcast(agentId: string, frame: object): boolean {
    const set = this.byAgent.get(agentId)
    if (!set || set.size === 0) return false
    const text = JSON.stringify(frame)
    let sent = false
    for (const c of set) {
      if (c.ws.readyState === WebSocket.OPEN) {
        c.ws.send(text)
        sent = true
      }
    }
    return sent
  }

  private messageFrame(row: DeliveryRow): Record<string, unknown> {
    const message = this.store.mail.message(row.workspaceId, row.messageId)
    const payload = message ? messagePayload(this.store, message) : { type: 'message.created', data: { id: row.messageId } }
    return { type: 'message', v: 1, cursor: row.seq, seq: row.seq, delivery_id: row.id, event: payload.type, message: payload.data }
  }

  /** New rows for users with an open client: push to all of them; returns rows now delivered. */
  pushDeliveries(rows: DeliveryRow[]): DeliveryRow[] {
    const changed: DeliveryRow[] = []
    for (const row of rows) {
      if (!this.byAgent.has(row.agentId)) continue
      if (this.broadcast(row.agentId, this.messageFrame(row))) {
        const at = this.now()
        if (this.store.mail.markDelivered(row.id, at)) changed.push({ ...row, status: 'delivered', deliveredAt: at })
      }
    }
    return changed
  }

  /** State changes of rows: tell the senders of those messages (if they have a client open). */
  deliveryUpdated(rows: DeliveryRow[]): void {
    if (this.byAgent.size === 0) return
    for (const row of rows) {
      const message = this.store.mail.message(row.workspaceId, row.messageId)
      if (!message || !this.byAgent.has(message.agentId)) continue
      const at = row.ackedAt ?? row.deadLetteredAt ?? row.failedAt ?? row.deliveredAt ?? this.now()
      this.broadcast(message.agentId, {
        type: 'delivery.updated', v: 1, message_id: row.messageId, delivery_id: row.id,
        agent_name: this.store.agents.get(row.agentId)?.name ?? row.agentId, status: row.status, at: iso(at),
      })
    }
  }

  deliveryFailed(senderId: string, data: { message_id: string; recipient: string; reason: string; retryable: boolean }): void {
    this.broadcast(senderId, { type: 'delivery.failed', v: 1, ...data })
  }

  /** Revocation / rotation: the token those sockets were opened with is dead. */
  closeAgent(agentId: string, reason: string): void {
    for (const c of this.byAgent.get(agentId) ?? []) c.ws.close(4001, reason.slice(0, 120))
  }

  async close(reason: string): Promise<void> {
    await Promise.all(
      [...this.wss.clients].map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve()
            const t = setTimeout(() => ws.terminate(), 1000)
            ws.once('close', () => {
              clearTimeout(t)
              resolve()
            })
            ws.close(1001, reason.slice(0, 120))
          }),
      ),
    )
    await new Promise<void>((resolve) => this.wss.close(() => resolve()))
  }
}
