/**
 * Delivery router: pushes durable mail to the node socket each recipient is bound
 * to (and to the user hub for humans with an open client), flips queued→delivered
 * on a successful write, reports every state change to the hub (delivery.updated),
 * dead-letters expired rows and tells their sender. All socket writes for a node run
 * on that node's promise chain.
 *
 * Hot path: posts go through the writer's group commit (writer.ts); once a batch is
 * durable its new rows are written to each node socket straight from memory, in seq
 * order, one corked write per node and commit. The store is read only when the socket's
 * in-order stream for an agent is not known to reach just below the new rows (first mail
 * on a socket, a replay, after a failed write), and then with one joined query per page.
 */
import { newId } from '../ids'
import type { Logger } from '../context'
import { EngineEvents } from '../events'
import type { NodeConnection } from '../node/connection'
import type { AgentRow, DeliveryFailureRow, DeliveryRow, MailItem, MessageRow, PostInput, PostOutcome, Store } from '../store/types'
import type { UserHub } from '../user/hub'
import { payloadOf } from './payload'
import { MailWriter, type Posted } from './writer'

export type DeadLetterReason = 'ttl_expired' | 'depth_cap'

/** How long a written-but-unacked delivery waits before it is sent again (engine.md: 30 s re-drive spacing). */
export const REDELIVER_AFTER_MS = 30_000

/** Rows read from the store per page when (re)sending an agent's mail. */
export const PUMP_PAGE = 500

/** A replay writes its next page only once the node socket has drained below this (bytes). */
export const SOCKET_HIGH_WATER = 4 * 1024 * 1024

export class DeliveryRouter {
  private readonly conns = new Map<string, NodeConnection>()
  private readonly lastReplayAt = new Map<string, number>()
  private hub: UserHub | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly sweeps: Array<() => void> = []
  /** Rows of the commit being reported, per recipient, until the commit's end routes them. */
  private readonly fresh = new Map<string, MailItem[]>()
  readonly writer: MailWriter

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: Logger,
    readonly events: EngineEvents = new EngineEvents(),
  ) {
    this.writer = new MailWriter(store, now, log, events, {
      delivered: (rows) => this.changed(rows),
      acked: (agentId, upToSeq, rows) => this.acked(agentId, upToSeq, rows),
      posted: (input, outcome) => this.postCommitted(input, outcome),
      committed: () => this.routeFresh(),
    })
  }

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

  /**
   * Posts durably (group commit) and routes the new mail. Settles after the commit: a
   * `posted` outcome is on disk and its deliver frames are already written.
   */
  post(input: PostInput): Promise<PostOutcome> {
    return this.writer.post(input)
  }

  /** Commits pending acks, marks and posts now: call before reading cursors or delivery states. */
  flushWrites(): void {
    this.writer.flush()
  }

  /**
   * A node's `delivery.ack`: coalesced with the other acks of this turn and committed with
   * them. The agent is looked up at commit time; an agent this node does not host is ignored.
   */
  nodeAck(conn: NodeConnection, agentName: string, upToSeq: number): void {
    this.writer.ack(`${conn.connId}\0${agentName}`, upToSeq, (upTo) => {
      const agent = this.store.agents.byName(conn.workspaceId, agentName)
      if (!agent || agent.nodeId !== conn.nodeId) {
        this.log('warn', 'ack for an agent not hosted by this node ignored', { node_id: conn.nodeId, agent: agentName })
        return undefined
      }
      return { agentId: agent.id, upToSeq: upTo + this.wireBase(conn, agent) }
    })
  }

  private postCommitted(input: PostInput, outcome: Posted): void {
    const meta = {
      senderName: input.from.name,
      channelName: input.kind === 'channel' ? input.channel.name : null,
      conversationKind: input.kind === 'dm' ? ('dm' as const) : input.kind === 'conversation' ? input.conversation.kind : null,
    }
    this.posted(outcome.message, outcome.deliveries.map((delivery) => ({ delivery, message: outcome.message, ...meta })), outcome.failures)
  }

  /** After a post commits: queue its rows for routing at the commit's end, push to users, report depth-cap rejections. */
  private posted(message: MessageRow, items: MailItem[], failures: DeliveryFailureRow[] = []): void {
    for (const item of items) {
      const list = this.fresh.get(item.delivery.agentId)
      if (list) list.push(item)
      else this.fresh.set(item.delivery.agentId, [item])
    }
    if (this.hub) this.changed(this.hub.pushDeliveries(items.map((i) => i.delivery)))
    for (const f of failures) this.deadLetter(message, f.recipientId, 'depth_cap')
  }

  /** Sends what was posted since the last call: one chain step (one corked write) per node. */
  private routeFresh(): void {
    if (this.fresh.size === 0) return
    const byConn = new Map<NodeConnection, Map<string, MailItem[]>>()
    for (const [agentId, items] of this.fresh) {
      const agent = this.store.agents.get(agentId)
      const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
      if (!conn) continue
      let agents = byConn.get(conn)
      if (!agents) byConn.set(conn, (agents = new Map()))
      agents.set(agentId, items)
    }
    this.fresh.clear()
    for (const [conn, agents] of byConn) void conn.serialize(() => this.sendFresh(conn, agents))
  }

  /** New rows from memory when they continue the socket's stream; else from the store. Runs on `conn`'s chain. */
  private async sendFresh(conn: NodeConnection, agents: Map<string, MailItem[]>): Promise<void> {
    const fromStore: string[] = []
    conn.corked(() => {
      for (const [agentId, items] of agents) {
        if (!conn.canDeliverTo(agentId)) continue
        const agent = this.store.agents.get(agentId)
        if (!agent || agent.nodeId !== conn.nodeId) continue
        if (conn.sentThrough.get(agentId) === (items[0] as MailItem).delivery.seq - 1 && contiguous(items)) this.write(conn, agent, items)
        else fromStore.push(agentId)
      }
    })
    for (const agentId of fromStore) await this.pump(conn, agentId, false)
    await conn.whenFlushedAbove(SOCKET_HIGH_WATER)
  }

  /** Delivery rows changed state: push delivery.updated to their senders' clients. */
  changed(rows: DeliveryRow[]): void {
    if (rows.length && this.hub) this.hub.deliveryUpdated(rows)
  }

  /** A cumulative ack was recorded: report it, then tell the senders' clients. */
  acked(agentId: string, upToSeq: number, rows: DeliveryRow[]): void {
    if (rows.length) this.events.emit('acked', { agentId, upToSeq, messageIds: rows.map((r) => r.messageId) })
    this.changed(rows)
  }

  /** Push new mail for these recipients to their nodes (fire and forget). */
  notify(agentIds: Iterable<string>): void {
    for (const agentId of new Set(agentIds)) {
      const agent = this.store.agents.get(agentId)
      const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
      if (conn) void conn.serialize(() => this.pump(conn, agentId, false))
    }
  }

  /** Rows of this agent were queued again (defer): resend every queued row, even ones already written. */
  requeued(agentId: string): void {
    const agent = this.store.agents.get(agentId)
    const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
    if (conn) {
      void conn.serialize(() => {
        conn.forget(agentId)
        return this.pump(conn, agentId, false)
      })
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
   * Sends an agent's pending rows from the store in seq order, a page at a time, and stops
   * at the first failed write: a later seq must never overtake an earlier undelivered one
   * (the broker would hold it as a gap). `includeDelivered`: a replay from the ack cursor;
   * else only queued rows above what this socket already carried. Must run on `conn`'s chain.
   */
  async pump(conn: NodeConnection, agentId: string, includeDelivered: boolean): Promise<void> {
    if (!conn.canDeliverTo(agentId)) return
    // Pending acks and marks first: the cursor and the states read below must be current.
    this.writer.flush()
    let after = 0
    if (includeDelivered) conn.forget(agentId)
    else after = conn.sentThrough.get(agentId) ?? 0
    for (;;) {
      const agent = this.store.agents.get(agentId)
      if (!agent || agent.nodeId !== conn.nodeId || !conn.canDeliverTo(agentId)) return
      const items = this.store.mail.pendingMail(agentId, this.now(), after, includeDelivered, PUMP_PAGE)
      if (items.length && !conn.corked(() => this.write(conn, agent, items))) return
      if (items.length < PUMP_PAGE) {
        // Everything pending up to the high-water mark read with this page is on the socket.
        conn.sentThrough.set(agentId, Math.max(conn.sentThrough.get(agentId) ?? 0, agent.deliverySeq))
        return
      }
      after = (items[items.length - 1] as MailItem).delivery.seq
      await conn.whenFlushedAbove(SOCKET_HIGH_WATER)
    }
  }

  /**
   * Writes the frames of `items` (ascending seq) in order; false at the first failed write.
   * A row flips queued → delivered (next commit) once its write succeeded.
   */
  private write(conn: NodeConnection, agent: AgentRow, items: MailItem[]): boolean {
    const base = this.wireBase(conn, agent)
    for (const item of items) {
      const row = item.delivery
      const seq = row.seq - base
      if (seq > 0) {
        const frame = {
          type: 'deliver', v: 1, agent: agent.name, agent_id: agent.id, delivery_id: row.id, msg_id: item.message.id, seq,
          mode: row.mode, payload: payloadOf(item.message, item),
        }
        const done = row.status === 'queued' ? (ok: boolean) => ok && this.writer.delivered(row, this.now()) : undefined
        if (!conn.write(frame, done)) return false
      }
      conn.sentThrough.set(agent.id, row.seq)
    }
    return true
  }

  /**
   * A legacy broker session starts at seq 1, so on such a node the wire seq is
   * relative to the base recorded at its agent.register; cursor-aware nodes get the
   * engine's own seq (they were told the cursor).
   */
  wireBase(conn: NodeConnection, agent: AgentRow): number {
    return conn.cursorAware ? 0 : agent.wireSeqBase
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
      this.writer.flush()
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

/** Seqs of one agent's fresh rows follow each other (one commit assigns them in a run). */
function contiguous(items: MailItem[]): boolean {
  for (let i = 1; i < items.length; i++) if ((items[i] as MailItem).delivery.seq !== (items[i - 1] as MailItem).delivery.seq + 1) return false
  return true
}
