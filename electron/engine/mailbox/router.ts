/**
 * Delivery router: pushes durable mail to the node socket each recipient is bound
 * to, flips queued→delivered on a successful write, and re-drives/expires rows on
 * a timer. All socket writes for a node run on that node's promise chain.
 */
import type { Logger } from '../context'
import type { NodeConnection } from '../node/connection'
import type { AgentRow, DeliveryRow, Store } from '../store/types'

export class DeliveryRouter {
  private readonly conns = new Map<string, NodeConnection>()
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

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

  /** After a post commits: push new mail for these recipients (fire and forget). */
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
      const frame = this.deliverFrame(agent, row)
      if (!frame) continue
      if (!(await conn.send(frame))) return
      if (row.status === 'queued') this.store.mail.markDelivered(row.id, this.now())
    }
  }

  private deliverFrame(agent: AgentRow, row: DeliveryRow): Record<string, unknown> | undefined {
    const message = this.store.mail.message(row.workspaceId, row.messageId)
    if (!message) return undefined
    const sender = this.store.agents.get(message.agentId)
    const senderName = sender?.name ?? 'unknown'
    const data: Record<string, unknown> = {
      id: message.id,
      agent_id: message.agentId,
      agent_name: senderName,
      from_name: senderName,
      text: message.text,
      thread_id: null,
      injection_mode: message.mode,
      attachments: message.attachments,
    }
    let type: string
    if (message.channelId) {
      type = 'message.created'
      data.channel_name = this.store.channels.get(message.channelId)?.name ?? ''
    } else {
      type = 'dm.received'
      data.conversation_id = message.conversationId
    }
    return {
      type: 'deliver',
      v: 1,
      agent: agent.name,
      agent_id: agent.id,
      delivery_id: row.id,
      msg_id: message.id,
      seq: row.seq,
      mode: row.mode,
      payload: { type, data },
    }
  }

  /** One sweep: dead-letter expired rows, then resend queued ones. */
  redrive(): void {
    try {
      const now = this.now()
      const expired = this.store.mail.expire(now)
      if (expired > 0) this.log('info', 'deliveries dead-lettered (ttl)', { count: expired })
      this.notify(this.store.mail.agentsWithQueued(now))
    } catch (err) {
      this.log('error', 'redrive failed', { error: String(err) })
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
