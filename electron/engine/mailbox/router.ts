/**
 * Delivery router: pushes durable mail to the node socket each recipient is bound
 * to (and to the user hub for humans with an open client), flips queued→delivered
 * on a successful write, reports every state change to the hub (delivery.updated),
 * dead-letters expired rows and tells their sender. All socket writes for a node run
 * on that node's promise chain.
 */
import { newId } from '../ids'
import type { Logger } from '../context'
import type { NodeConnection } from '../node/connection'
import type { AgentRow, DeliveryFailureRow, DeliveryRow, MessageRow, Store } from '../store/types'
import type { UserHub } from '../user/hub'
import { messagePayload } from './payload'

export type DeadLetterReason = 'ttl_expired' | 'depth_cap'

/** How long a written-but-unacked delivery waits before it is sent again (engine.md: 30 s re-drive spacing). */
export const REDELIVER_AFTER_MS = 30_000

export class DeliveryRouter {
  private readonly conns = new Map<string, NodeConnection>()
  private readonly lastReplayAt = new Map<string, number>()
  private hub: UserHub | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly sweeps: Array<() => void> = []

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  setHub(hub: UserHub): void {
    this.hub = hub
  }

  /** Extra periodic work (liveness, invocations) run on the same timer. */
  addSweep(fn: () => void): void {
    this.sweeps.push(fn)
  }

  /** Makes `conn` the node's socket; returns the superseded one, if any. */
  attach(conn: NodeConnection): NodeConnection | undefined {
    const prev = this.conns.get(conn.nodeId)
    this.conns.set(conn.nodeId, conn)
    return prev && prev !== conn ? prev : undefined
  }

  /** True if `conn` was the node's current socket (so the node is now offline). */
  detach(conn: NodeConnection): boolean {
    if (this.conns.get(conn.nodeId) !== conn) return false
    this.conns.delete(conn.nodeId)
    return true
  }

  connection(nodeId: string): NodeConnection | undefined {
    return this.conns.get(nodeId)
  }

  connections(): NodeConnection[] {
    return [...this.conns.values()]
  }

  /** After a post commits: route the new rows, report depth-cap rejections to the sender. */
  posted(message: MessageRow, deliveries: DeliveryRow[], failures: DeliveryFailureRow[] = []): void {
    this.notify(deliveries.map((d) => d.agentId))
    if (this.hub) this.changed(this.hub.pushDeliveries(deliveries))
    for (const f of failures) this.deadLetter(message, f.recipientId, 'depth_cap')
  }

  /** Delivery rows changed state: push delivery.updated to their senders' clients. */
  changed(rows: DeliveryRow[]): void {
    if (rows.length && this.hub) this.hub.deliveryUpdated(rows)
  }

  /** Push new mail for these recipients to their nodes (fire and forget). */
  notify(agentIds: Iterable<string>): void {
    for (const agentId of new Set(agentIds)) {
      const agent = this.store.agents.get(agentId)
      const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
      if (conn) void conn.serialize(() => this.pump(conn, agentId, false))
    }
  }

  /** Resend everything unacked (queued|delivered) — used after an agent is (re)bound. */
  replay(agentIds: Iterable<string>): void {
    for (const agentId of new Set(agentIds)) {
      const agent = this.store.agents.get(agentId)
      const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
      if (conn) void conn.serialize(() => this.pump(conn, agentId, true))
    }
  }

  /**
   * Sends an agent's pending rows in seq order and stops at the first failed
   * write: a later seq must never overtake an earlier undelivered one (the broker
   * would hold it as a gap). Must run on `conn`'s chain.
   */
  async pump(conn: NodeConnection, agentId: string, includeDelivered: boolean): Promise<void> {
    if (!conn.canDeliverTo(agentId)) return
    const agent = this.store.agents.get(agentId)
    if (!agent || agent.nodeId !== conn.nodeId) return
    for (const row of this.store.mail.pendingFor(agentId, this.now(), includeDelivered)) {
      const frame = this.deliverFrame(conn, agent, row)
      if (!frame) continue
      if (!(await conn.send(frame))) return
      if (row.status === 'queued') {
        const at = this.now()
        if (this.store.mail.markDelivered(row.id, at)) this.changed([{ ...row, status: 'delivered', deliveredAt: at }])
      }
    }
  }

  /**
   * A legacy broker session starts at seq 1, so on such a node the wire seq is
   * relative to the base recorded at its agent.register; cursor-aware nodes get the
   * engine's own seq (they were told the cursor).
   */
  wireBase(conn: NodeConnection, agent: AgentRow): number {
    return conn.cursorAware ? 0 : agent.wireSeqBase
  }

  private deliverFrame(conn: NodeConnection, agent: AgentRow, row: DeliveryRow): Record<string, unknown> | undefined {
    const message = this.store.mail.message(row.workspaceId, row.messageId)
    if (!message) return undefined
    const seq = row.seq - this.wireBase(conn, agent)
    if (seq <= 0) return undefined
    return {
      type: 'deliver',
      v: 1,
      agent: agent.name,
      agent_id: agent.id,
      delivery_id: row.id,
      msg_id: message.id,
      seq,
      mode: row.mode,
      payload: messagePayload(this.store, message),
    }
  }

  /**
   * A message will never reach `recipientId`: tell the sender, as a seq-0 (ephemeral)
   * `delivery.failed` deliver if it is node-hosted, and on its user clients.
   */
  deadLetter(message: MessageRow, recipientId: string, reason: DeadLetterReason): void {
    const sender = this.store.agents.get(message.agentId)
    const recipient = this.store.agents.get(recipientId)
    if (!sender) return
    const data = { message_id: message.id, recipient: recipient?.name ?? recipientId, reason, retryable: false }
    this.hub?.deliveryFailed(sender.id, data)
    const conn = sender.nodeId ? this.conns.get(sender.nodeId) : undefined
    if (!conn) return
    void conn.serialize(async () => {
      if (!conn.canDeliverTo(sender.id)) return
      await conn.send({
        type: 'deliver', v: 1, agent: sender.name, agent_id: sender.id, delivery_id: newId('dfail_'), msg_id: message.id,
        seq: 0, mode: 'wait', payload: { type: 'delivery.failed', data },
      })
    })
  }

  /** One sweep: dead-letter expired rows (telling senders), resend queued ones, run extra sweeps. */
  redrive(): void {
    try {
      const now = this.now()
      const expired = this.store.mail.expire(now)
      if (expired.length > 0) {
        this.log('info', 'deliveries dead-lettered (ttl)', { count: expired.length })
        this.changed(expired)
        for (const row of expired) {
          const message = this.store.mail.message(row.workspaceId, row.messageId)
          if (message) this.deadLetter(message, row.agentId, 'ttl_expired')
        }
      }
      this.notify(this.store.mail.agentsWithQueued(now))
      // "Delivered" is only "written to a socket". A broker that could not type a
      // message withholds its ack and waits for a redelivery; without this it waited
      // until the next reconnect. Resend from the cursor, at most every REDELIVER_AFTER_MS.
      const stale = this.store.mail
        .agentsWithUnackedDelivered(now - REDELIVER_AFTER_MS, now)
        .filter((id) => now - (this.lastReplayAt.get(id) ?? 0) >= REDELIVER_AFTER_MS)
      for (const id of stale) this.lastReplayAt.set(id, now)
      this.replay(stale)
    } catch (err) {
      this.log('error', 'redrive failed', { error: String(err) })
    }
    for (const sweep of this.sweeps) {
      try {
        sweep()
      } catch (err) {
        this.log('error', 'sweep failed', { error: String(err) })
      }
    }
  }

  start(intervalMs: number): void {
    this.stop()
    this.timer = setInterval(() => this.redrive(), intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }
}
