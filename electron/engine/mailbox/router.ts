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
import type { ClusterBus, ClusterEvent } from '../cluster/bus'
import { soloBus } from '../cluster/bus'
import { newId } from '../ids'
import type { Logger } from '../context'
import { EngineEvents } from '../events'
import type { NodeConnection } from '../node/connection'
import type { AgentRow, AsyncStore, DeliveryFailureRow, DeliveryRow, MailItem, MessageRow, PostInput, PostOutcome } from '../store/types'
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

/** Recent messages whose sender the router remembers (for delivery.updated across instances). */
export const SENDER_CACHE = 50_000

export class DeliveryRouter {
  private readonly conns = new Map<string, NodeConnection>()
  private readonly lastReplayAt = new Map<string, number>()
  private hub: UserHub | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly sweeps: Array<() => Promise<void> | void> = []
  private sweeping: Promise<void> | undefined
  /** Rows of the commit being reported, per recipient, until the commit's end routes them. */
  private readonly fresh = new Map<string, MailItem[]>()
  private readonly senders = new Map<string, string>()
  /** Per socket, agents whose queued mail a pending chain step will send (see wantQueued). */
  private readonly wanted = new Map<NodeConnection, Set<string>>()
  readonly writer: MailWriter

  constructor(
    private readonly store: AsyncStore,
    private readonly now: () => number,
    private readonly log: Logger,
    readonly events: EngineEvents = new EngineEvents(),
    /** The other engine instances on the same database (none: soloBus). */
    readonly bus: ClusterBus = soloBus('solo'),
  ) {
    bus.subscribe((e) => this.onClusterEvent(e))
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

  /** Extra periodic work (liveness, invocations) run on the same timer, by the leader instance only. */
  addSweep(fn: () => Promise<void> | void): void {
    this.sweeps.push(fn)
  }

  /**
   * Makes `conn` the node's socket; returns the superseded one, if any. Other instances
   * drop a socket they still hold for the node (a broker that failed over to this one).
   */
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

  /** Commits pending acks, marks and posts now: await before reading cursors or delivery states. */
  flushWrites(): Promise<void> {
    return this.writer.flush()
  }

  /**
   * For readers of ack cursors only (a register reply, a replay from the cursor): commits
   * what is pending when an ack is among it. Pending posts and delivered marks do not change
   * a cursor, and under load waiting for their commit is what held registers up.
   */
  flushAcks(): Promise<void> {
    return this.writer.acksPending ? this.writer.flush() : Promise.resolve()
  }

  /**
   * A node's `delivery.ack`: coalesced with the other acks of this turn and committed with
   * them. The agent is looked up at commit time; an agent this node does not host is ignored.
   */
  nodeAck(conn: NodeConnection, agentName: string, upToSeq: number): void {
    this.writer.ack(`${conn.connId}\0${agentName}`, upToSeq, async (upTo) => {
      const agent = await this.store.agents.byName(conn.workspaceId, agentName)
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
    this.rememberSender(message.id, message.agentId)
    for (const item of items) {
      const list = this.fresh.get(item.delivery.agentId)
      if (list) list.push(item)
      else this.fresh.set(item.delivery.agentId, [item])
    }
    this.hub?.pushDeliveries(items)
    for (const f of failures) {
      this.deadLetter(message, f.recipientId, 'depth_cap').catch((err: unknown) => this.log('error', 'dead-letter notice failed', { error: String(err) }))
    }
  }

  /**
   * Sends what was posted since the last call: one chain step (one corked write) per node
   * socket of this instance that is ready for the agent. Agents with no such socket here are
   * announced to the other instances (their node may be connected there).
   */
  private routeFresh(): void {
    if (this.fresh.size === 0) return
    const byConn = new Map<NodeConnection, Map<string, MailItem[]>>()
    const elsewhere: string[] = []
    for (const [agentId, items] of this.fresh) {
      const conn = this.readyConnFor(agentId)
      if (!conn) {
        elsewhere.push(agentId)
        continue
      }
      let agents = byConn.get(conn)
      if (!agents) byConn.set(conn, (agents = new Map()))
      agents.set(agentId, items)
    }
    this.fresh.clear()
    for (const [conn, agents] of byConn) void conn.serialize(() => this.sendFresh(conn, agents))
    // The other instances, and a legacy socket here that never registered the agent by name.
    if (elsewhere.length) this.notify(elsewhere).catch((err: unknown) => this.log('error', 'routing new mail failed', { error: String(err) }))
  }

  /**
   * The agent is no longer on this socket's node (it moved, or was released) although the
   * socket had registered it: forget it here and route its mail where it is now.
   */
  private misrouted(conn: NodeConnection, agentId: string): void {
    conn.readyAgents.delete(agentId)
    conn.forget(agentId)
    this.notify([agentId]).catch((err: unknown) => this.log('error', 'rerouting mail failed', { agent_id: agentId, error: String(err) }))
  }

  /** The socket of this instance that may carry the agent's mail now (its agent.register was answered on it). */
  private readyConnFor(agentId: string): NodeConnection | undefined {
    for (const conn of this.conns.values()) if (conn.readyAgents.has(agentId) && conn.canDeliverTo(agentId)) return conn
    return undefined
  }

  /** This instance's socket for the node the agent is bound to, if it holds one. */
  private async localConn(agentId: string): Promise<{ agent: AgentRow; conn: NodeConnection } | undefined> {
    if (this.conns.size === 0) return undefined
    const agent = await this.store.agents.get(agentId)
    const conn = agent?.nodeId ? this.conns.get(agent.nodeId) : undefined
    return agent && conn ? { agent, conn } : undefined
  }

  /** New rows from memory when they continue the socket's stream; else from the store. Runs on `conn`'s chain. */
  private async sendFresh(conn: NodeConnection, agents: Map<string, MailItem[]>): Promise<void> {
    // Read before corking (a read may wait on the database); the writes go out in one go.
    const rows: Array<{ agent: AgentRow; items: MailItem[] }> = []
    const fromStore: string[] = []
    for (const [agentId, items] of agents) {
      if (!conn.canDeliverTo(agentId)) continue
      const agent = await this.store.agents.get(agentId)
      if (!agent) continue
      if (agent.nodeId !== conn.nodeId) {
        this.misrouted(conn, agentId)
        continue
      }
      if (conn.sentThrough.get(agentId) === (items[0] as MailItem).delivery.seq - 1 && contiguous(items)) rows.push({ agent, items })
      else fromStore.push(agentId)
    }
    conn.corked(() => {
      for (const { agent, items } of rows) {
        // Re-checked after the reads: the socket may have closed, or the agent left it.
        if (conn.canDeliverTo(agent.id) && conn.sentThrough.get(agent.id) === (items[0] as MailItem).delivery.seq - 1) this.write(conn, agent, items)
        else fromStore.push(agent.id)
      }
    })
    for (const agentId of fromStore) await this.pump(conn, agentId, false)
    await conn.whenFlushedAbove(SOCKET_HIGH_WATER)
  }

  /**
   * Delivery rows changed state: push delivery.updated to their senders' clients — here, and
   * on the other instances for senders with a client there.
   */
  changed(rows: DeliveryRow[]): void {
    if (rows.length === 0) return
    this.hub?.deliveryUpdated(rows)
    if (this.bus.remoteUserIds().size > 0) {
      this.announceChanged(rows).catch((err: unknown) => this.log('warn', 'announcing delivery changes failed', { error: String(err) }))
    }
  }

  /** Publishes the rows whose sender has a user client on another instance. */
  private async announceChanged(rows: DeliveryRow[]): Promise<void> {
    const remote = this.bus.remoteUserIds()
    const out: DeliveryRow[] = []
    for (const row of rows) {
      let sender = this.senders.get(row.messageId)
      if (sender === undefined) {
        sender = (await this.store.mail.message(row.workspaceId, row.messageId))?.agentId
        if (sender) this.rememberSender(row.messageId, sender)
      }
      if (sender && remote.has(sender)) out.push(row)
    }
    if (out.length) this.bus.publish({ k: 'updated', rows: out })
  }

  /** The sender of a recent message, if remembered (saves a read per delivery state change). */
  senderOf(messageId: string): string | undefined {
    return this.senders.get(messageId)
  }

  /** Message id → sender id of recent posts, so a state change finds its sender without a read. */
  private rememberSender(messageId: string, senderId: string): void {
    if (this.senders.size >= SENDER_CACHE) {
      const oldest = this.senders.keys().next().value
      if (oldest !== undefined) this.senders.delete(oldest)
    }
    this.senders.set(messageId, senderId)
  }

  /** A cumulative ack was recorded: report it, then tell the senders' clients. */
  acked(agentId: string, upToSeq: number, rows: DeliveryRow[]): void {
    if (rows.length) this.events.emit('acked', { agentId, upToSeq, messageIds: rows.map((r) => r.messageId) })
    this.changed(rows)
  }

  /** Push new mail for these recipients to their nodes, here and on the other instances. */
  notify(agentIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(agentIds)]
    if (ids.length) this.bus.publish({ k: 'mail', agents: ids })
    return this.sendQueued(ids)
  }

  /** Sends queued mail of these agents whose node's socket is on this instance. */
  private async sendQueued(agentIds: string[]): Promise<void> {
    // Legacy sockets carry agents they never registered (a node.register replay): those need the binding.
    const legacy = [...this.conns.values()].some((c) => c.registered && !c.cursorAware)
    for (const agentId of agentIds) {
      const conn = this.readyConnFor(agentId) ?? (legacy ? (await this.localConn(agentId))?.conn : undefined)
      if (conn) this.wantQueued(conn, agentId)
    }
  }

  /**
   * Asks for the agent's queued mail to go out on `conn`. Requests for one socket gather into
   * ONE chain step, each agent read once however many announcements named it: under load an
   * announcement per commit per agent would otherwise queue a read each, and the acks and
   * registers waiting on the same chain behind them.
   */
  private wantQueued(conn: NodeConnection, agentId: string): void {
    const pending = this.wanted.get(conn)
    if (pending) {
      pending.add(agentId)
      return
    }
    this.wanted.set(conn, new Set([agentId]))
    void conn.serialize(async () => {
      // Taken at the start: what is announced from now on gets a step of its own (it may be newer than these reads).
      const ids = this.wanted.get(conn) ?? new Set<string>()
      this.wanted.delete(conn)
      for (const id of ids) await this.pump(conn, id, false)
    })
  }

  /** Rows of this agent were queued again (defer): resend every queued row, even ones already written. */
  requeued(agentId: string, announce = true): Promise<void> {
    if (announce) this.bus.publish({ k: 'requeued', agent: agentId })
    return this.localConn(agentId).then((local) => {
      if (!local) return
      const { conn } = local
      void conn.serialize(() => {
        conn.forget(agentId)
        return this.pump(conn, agentId, false)
      })
    })
  }

  /** Resend everything unacked (queued|delivered) — used after an agent is (re)bound. */
  replay(agentIds: Iterable<string>, announce = true): Promise<void> {
    const ids = [...new Set(agentIds)]
    if (announce && ids.length) this.bus.publish({ k: 'replay', agents: ids })
    return this.replayLocal(ids)
  }

  private async replayLocal(agentIds: string[]): Promise<void> {
    for (const agentId of agentIds) {
      const local = await this.localConn(agentId)
      if (local) void local.conn.serialize(() => this.pump(local.conn, agentId, true))
    }
  }

  /** What another instance asked of this one's sockets. */
  private onClusterEvent(e: ClusterEvent): void {
    const fail = (err: unknown) => this.log('error', 'cluster event failed', { event: e.k, error: String(err) })
    switch (e.k) {
      case 'mail':
        this.sendQueued(e.agents).catch(fail)
        this.hub?.pull(e.agents).catch(fail)
        return
      case 'replay':
        this.replayLocal(e.agents).catch(fail)
        return
      case 'requeued':
        this.requeued(e.agent, false).catch(fail)
        return
      case 'node.attached': {
        // The broker moved to another instance: this socket is a leftover (a half-open
        // connection, a partition). Its agents must not get mail from two places. Unless it
        // registered after the other (the notice came late): the database knows which is newer.
        const here = this.conns.get(e.node)
        if (!here || here.connId === e.socket) return
        this.store.nodes
          .get(e.node)
          .then((node) => {
            if (node?.socketId === here.connId || this.conns.get(e.node) !== here) return
            this.conns.delete(e.node)
            here.close('superseded')
          })
          .catch(fail)
        return
      }
      case 'dead':
        this.store.mail.message(e.workspace, e.message).then((m) => m && this.deadLetter(m, e.recipient, e.reason, false)).catch(fail)
        return
      case 'agent.closed':
        this.hub?.closeAgent(e.agent, e.reason, false)
        return
      case 'updated':
        this.hub?.deliveryUpdated(e.rows)
        return
      case 'resync':
        this.resync().catch(fail)
        return
      case 'invoke':
      case 'users':
        return // the action service and the bus handle these
    }
  }

  /**
   * After this instance could not hear the others for a while: send what its sockets may have
   * missed (queued mail of their agents, users' rows), and drop sockets of nodes that
   * registered elsewhere meanwhile.
   */
  private async resync(): Promise<void> {
    for (const conn of [...this.conns.values()]) {
      const node = await this.store.nodes.get(conn.nodeId)
      if (conn.registered && node?.socketId && node.socketId !== conn.connId) {
        this.conns.delete(conn.nodeId)
        conn.close('superseded')
        continue
      }
      for (const agentId of conn.readyAgents) this.wantQueued(conn, agentId)
    }
    await this.hub?.pullAll()
  }

  /**
   * Sends an agent's pending rows from the store in seq order, a page at a time, and stops
   * at the first failed write: a later seq must never overtake an earlier undelivered one
   * (the broker would hold it as a gap). `includeDelivered`: a replay from the ack cursor;
   * else only queued rows above what this socket already carried. Must run on `conn`'s chain.
   */
  async pump(conn: NodeConnection, agentId: string, includeDelivered: boolean): Promise<void> {
    if (!conn.canDeliverTo(agentId)) return
    // A replay starts from the ack cursor: pending acks and marks first, so it is current. Sending
    // queued rows above what this socket carried needs no flush (an uncommitted ack only means
    // fewer rows are needed, and the socket's own position is in memory).
    if (includeDelivered) await this.flushAcks()
    let after = 0
    if (includeDelivered) conn.forget(agentId)
    else after = conn.sentThrough.get(agentId) ?? 0
    for (;;) {
      const agent = await this.store.agents.get(agentId)
      if (!agent || !conn.canDeliverTo(agentId)) return
      if (agent.nodeId !== conn.nodeId) {
        if (conn.readyAgents.has(agentId)) this.misrouted(conn, agentId)
        return
      }
      const items = await this.store.mail.pendingMail(agentId, this.now(), after, includeDelivered, PUMP_PAGE)
      if (!conn.canDeliverTo(agentId)) return
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
   * `delivery.failed` deliver if it is node-hosted, and on its user clients — here, and
   * (`announce`) on the other instances, which hold the sender's sockets if it is not here.
   */
  async deadLetter(message: MessageRow, recipientId: string, reason: DeadLetterReason, announce = true): Promise<void> {
    if (announce) this.bus.publish({ k: 'dead', workspace: message.workspaceId, message: message.id, recipient: recipientId, reason })
    const sender = await this.store.agents.get(message.agentId)
    if (!sender) return
    const recipient = await this.store.agents.get(recipientId)
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

  /**
   * One sweep. Every instance resends queued and long-unacked mail of its own sockets (this
   * also covers a lost cluster event); the leader alone dead-letters expired rows and runs
   * the extra sweeps (liveness, invocations), which act on shared rows.
   */
  redrive(): Promise<void> {
    // A slow database must not pile sweeps up.
    this.sweeping ??= this.redriveOnce().finally(() => {
      this.sweeping = undefined
    })
    return this.sweeping
  }

  private async redriveOnce(): Promise<void> {
    const leader = this.bus.isLeader()
    try {
      await this.writer.flush()
      const now = this.now()
      if (leader) {
        const expired = await this.store.mail.expire(now)
        if (expired.length > 0) {
          this.log('info', 'deliveries dead-lettered (ttl)', { count: expired.length })
          this.changed(expired)
          for (const row of expired) {
            const message = await this.store.mail.message(row.workspaceId, row.messageId)
            if (message) await this.deadLetter(message, row.agentId, 'ttl_expired')
          }
        }
      }
      if (this.conns.size > 0) {
        await this.sendQueued(await this.store.mail.agentsWithQueued(now))
        // "Delivered" is only "written to a socket". A broker that could not type a
        // message withholds its ack and waits for a redelivery; without this it waited
        // until the next reconnect. Resend from the cursor, at most every REDELIVER_AFTER_MS.
        const stale = (await this.store.mail.agentsWithUnackedDelivered(now - REDELIVER_AFTER_MS, now))
          .filter((id) => now - (this.lastReplayAt.get(id) ?? 0) >= REDELIVER_AFTER_MS)
        for (const id of stale) this.lastReplayAt.set(id, now)
        await this.replayLocal(stale)
      }
    } catch (err) {
      this.log('error', 'redrive failed', { error: String(err) })
    }
    if (!leader) return
    for (const sweep of this.sweeps) {
      try {
        await sweep()
      } catch (err) {
        this.log('error', 'sweep failed', { error: String(err) })
      }
    }
  }

  start(intervalMs: number): void {
    this.stop()
    this.timer = setInterval(() => void this.redrive(), intervalMs)
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
