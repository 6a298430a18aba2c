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
import { messagePayload, payloadOf } from '../mailbox/payload'
import type { AgentRow, AsyncStore, DeliveryRow, MailItem } from '../store/types'
import { iso } from '../views'

/** At most this many rows are replayed per connect; the client reconnects with its new cursor for more. */
export const USER_REPLAY_LIMIT = 5000

interface UserConn {
  ws: WebSocket
  agentId: string
  workspaceId: string
  connectedAt: number
  /** Highest delivery seq sent on this socket: a row at or below it is not sent again. */
  sentThrough: number
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
  /**
   * Everything the hub does runs on this one chain, in call order: a connect's replay and
   * the pushes of posts committed meanwhile cannot interleave (each socket then skips rows
   * it already has, by seq), and a user sees its rows in seq order.
   */
  private chain: Promise<void> = Promise.resolve()
  private closing = false

  constructor(
    private readonly store: AsyncStore,
    private readonly router: DeliveryRouter,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  count(agentId: string): number {
    return this.byAgent.get(agentId)?.size ?? 0
  }

  private serialize(what: string, work: () => Promise<void> | void): Promise<void> {
    const next = this.chain.then(work).catch((err: unknown) => this.log('error', `user hub: ${what} failed`, { error: String(err) }))
    this.chain = next
    return next
  }

  /** Human clients connected to the workspace, on this instance and (in a cluster) on the others. */
  async usersIn(workspaceId: string): Promise<UserPresence[]> {
    const counts = new Map<string, { connections: number; connectedAt: number }>()
    for (const [agentId, set] of [...this.byAgent]) {
      const first = [...set][0]
      if (!first || first.workspaceId !== workspaceId) continue
      counts.set(agentId, { connections: set.size, connectedAt: Math.min(...[...set].map((c) => c.connectedAt)) })
    }
    for (const r of await this.router.bus.remoteUsers(workspaceId)) {
      const here = counts.get(r.agentId)
      counts.set(r.agentId, here
        ? { connections: here.connections + r.connections, connectedAt: Math.min(here.connectedAt, r.connectedAt) }
        : { connections: r.connections, connectedAt: r.connectedAt })
    }
    const out: UserPresence[] = []
    for (const [agentId, c] of counts) {
      const agent = await this.store.agents.get(agentId)
      out.push({ agentId, name: agent?.name ?? agentId, ...c })
    }
    return out.sort((a, b) => a.name.localeCompare(b.name))
  }

  /** Tells the other instances how many clients of the agent this one holds now. */
  private reportSockets(agentId: string, workspaceId: string): void {
    if (this.closing) return
    const set = this.byAgent.get(agentId)
    const connectedAt = set?.size ? Math.min(...[...set].map((c) => c.connectedAt)) : 0
    this.router.bus.userSockets(agentId, workspaceId, set?.size ?? 0, connectedAt)
  }

  /** Upgrade for an already-authenticated human agent. */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, agent: AgentRow, cursor: number): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn: UserConn = { ws, agentId: agent.id, workspaceId: agent.workspaceId, connectedAt: this.now(), sentThrough: cursor }
      // Frames that arrive before the replay ran wait on the chain behind it.
      ws.on('message', (data, isBinary) => void this.serialize('frame', () => this.onFrame(conn, isBinary ? '' : data.toString())))
      ws.on('close', () => {
        const s = this.byAgent.get(agent.id)
        s?.delete(conn)
        if (s && s.size === 0) this.byAgent.delete(agent.id)
        this.reportSockets(agent.id, agent.workspaceId)
        this.store.agents.touch(agent.id, this.now()).catch(() => undefined)
      })
      ws.on('error', (err) => this.log('warn', 'user socket error', { agent_id: agent.id, error: String(err) }))
      void this.serialize('connect', () => this.onConnection(conn, agent))
    })
  }

  private async onConnection(conn: UserConn, agent: AgentRow): Promise<void> {
    // Closed while waiting for its turn on the chain: never counted, never reported.
    if (conn.ws.readyState !== WebSocket.OPEN) return
    const fresh = (await this.store.agents.get(agent.id)) ?? agent
    this.send(conn, { type: 'hello', v: 1, user: fresh.name, agent_id: fresh.id, cursor: fresh.deliveryAckSeq, high_water: fresh.deliverySeq })
    // Live from here on (pushes queued behind this step skip what the replay sent, by seq).
    let set = this.byAgent.get(agent.id)
    if (!set) this.byAgent.set(agent.id, (set = new Set()))
    set.add(conn)
    this.reportSockets(agent.id, agent.workspaceId)
    await this.sendStored(agent.id, [conn])
    await this.store.agents.touch(agent.id, this.now())
  }

  /** Rows of the agent above what these sockets have, from the store, in seq order. */
  private async sendStored(agentId: string, conns: UserConn[]): Promise<void> {
    const open = conns.filter((c) => c.ws.readyState === WebSocket.OPEN)
    if (open.length === 0) return
    const from = Math.min(...open.map((c) => c.sentThrough))
    const rows = await this.store.mail.deliveriesAfter(agentId, from, USER_REPLAY_LIMIT)
    const changed: DeliveryRow[] = []
    for (const row of rows) {
      const frame = await this.storedFrame(row)
      let sent = false
      for (const c of open) sent = this.sendRow(c, row.seq, frame) || sent
      if (sent && row.status === 'queued') {
        const at = this.now()
        if (await this.store.mail.markDelivered(row.id, at)) changed.push({ ...row, status: 'delivered', deliveredAt: at })
      }
    }
    this.router.changed(changed)
  }

  /** Sends a message frame unless this socket already had the row; true if it went out. */
  private sendRow(conn: UserConn, seq: number, frame: object): boolean {
    if (seq <= conn.sentThrough || conn.ws.readyState !== WebSocket.OPEN) return false
    conn.ws.send(JSON.stringify(frame))
    conn.sentThrough = seq
    return true
  }

  /** Every user with a client here reads what it may have missed. */
  pullAll(): Promise<void> {
    return this.pull([...this.byAgent.keys()])
  }

  /** Mail for these agents was committed on another instance: users with a client here read it. */
  pull(agentIds: string[]): Promise<void> {
    const here = agentIds.filter((id) => this.byAgent.has(id))
    if (here.length === 0) return Promise.resolve()
    return this.serialize('pull', async () => {
      for (const id of here) await this.sendStored(id, [...(this.byAgent.get(id) ?? [])])
    })
  }

  private async onFrame(conn: UserConn, text: string): Promise<void> {
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
      await this.router.flushWrites()
      this.router.acked(conn.agentId, f.up_to_seq, await this.store.mail.ackUpTo(conn.agentId, f.up_to_seq, this.now()))
      const agent = await this.store.agents.get(conn.agentId)
      return this.send(conn, { type: 'acked', v: 1, up_to_seq: agent?.deliveryAckSeq ?? f.up_to_seq })
    }
    if (f && f.type === 'ping') {
      await this.store.agents.touch(conn.agentId, this.now())
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

  private async storedFrame(row: DeliveryRow): Promise<Record<string, unknown>> {
    const message = await this.store.mail.message(row.workspaceId, row.messageId)
    const payload = message ? await messagePayload(this.store, message) : { type: 'message.created', data: { id: row.messageId } }
    return { type: 'message', v: 1, cursor: row.seq, seq: row.seq, delivery_id: row.id, event: payload.type, message: payload.data }
  }

  /** New rows (just committed here) for users with an open client here: pushed from memory, then marked delivered. */
  pushDeliveries(items: MailItem[]): void {
    const mine = items.filter((i) => this.byAgent.has(i.delivery.agentId))
    if (mine.length === 0) return
    void this.serialize('push', async () => {
      const changed: DeliveryRow[] = []
      const behind = new Map<string, Set<UserConn>>()
      for (const item of mine) {
        const row = item.delivery
        const payload = payloadOf(item.message, item)
        const frame = { type: 'message', v: 1, cursor: row.seq, seq: row.seq, delivery_id: row.id, event: payload.type, message: payload.data }
        let sent = false
        for (const c of this.byAgent.get(row.agentId) ?? []) {
          // From memory only when it continues what the socket has: a lower seq committed on
          // another instance may not have reached it yet (its announcement comes later), and
          // the client would ack past it. Such a socket reads from the store instead.
          if (row.seq > c.sentThrough + 1) {
            const set = behind.get(row.agentId) ?? new Set<UserConn>()
            behind.set(row.agentId, set.add(c))
            continue
          }
          sent = this.sendRow(c, row.seq, frame) || sent
        }
        if (!sent) continue
        const at = this.now()
        if (await this.store.mail.markDelivered(row.id, at)) changed.push({ ...row, status: 'delivered', deliveredAt: at })
      }
      this.router.changed(changed)
      for (const [agentId, conns] of behind) await this.sendStored(agentId, [...conns])
    })
  }

  /** State changes of rows: tell the senders of those messages (if they have a client open). */
  deliveryUpdated(rows: DeliveryRow[]): void {
    if (this.byAgent.size === 0) return
    void this.serialize('delivery.updated', async () => {
      for (const row of rows) {
        // Most rows are of recent messages whose sender the router remembers: no read for senders without a client here.
        const known = this.router.senderOf(row.messageId)
        if (known !== undefined && !this.byAgent.has(known)) continue
        const message = await this.store.mail.message(row.workspaceId, row.messageId)
        if (!message || !this.byAgent.has(message.agentId)) continue
        const at = row.ackedAt ?? row.deadLetteredAt ?? row.failedAt ?? row.deliveredAt ?? this.now()
        const recipient = await this.store.agents.get(row.agentId)
        this.broadcast(message.agentId, {
          type: 'delivery.updated', v: 1, message_id: row.messageId, delivery_id: row.id,
          agent_name: recipient?.name ?? row.agentId, status: row.status, at: iso(at),
        })
      }
    })
  }

  deliveryFailed(senderId: string, data: { message_id: string; recipient: string; reason: string; retryable: boolean }): void {
    this.broadcast(senderId, { type: 'delivery.failed', v: 1, ...data })
  }

  /** Revocation / rotation: the token those sockets were opened with is dead. */
  closeAgent(agentId: string, reason: string, announce = true): void {
    if (announce) this.router.bus.publish({ k: 'agent.closed', agent: agentId, reason })
    for (const c of this.byAgent.get(agentId) ?? []) c.ws.close(4001, reason.slice(0, 120))
  }

  async close(reason: string): Promise<void> {
    // The instance is going: its user_sockets rows go with the bus, not one by one.
    this.closing = true
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
