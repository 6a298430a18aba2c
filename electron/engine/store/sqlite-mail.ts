/**
 * SQLite mailbox: messages, conversations and per-recipient delivery rows.
 * Every post writes the message and all of its delivery rows in one transaction,
 * so a crash can never leave a message without its mail (or mail without a message).
 * State changes are guarded updates (`WHERE status IN …`) and return the rows they
 * moved, so the caller can notify exactly once per transition.
 */
import type { Database } from 'better-sqlite3'
import { DELIVERY_STATUSES, optStr, sqliteRows } from './rows'
import { cachedStatement } from './statements'
import { deliveryId, newId } from '../ids'
import type {
  FanOut, MessageInsert, AgentRow, ConversationRow, DeliveryFailureRow, DeliveryRow, InboxRow, InjectionMode, MailBatch, MailBatchResult, MailItem,
  MailStore, MessageRow, PostChannelInput, PostChannelResult, PostConversationInput, PostDmInput, PostDmResult, PostInput,
  PostOutcome, SearchQuery,
} from './types'

type Raw = Record<string, unknown>

const { toMessage, toDelivery, toConversation, toFailure } = sqliteRows
/** User text → an FTS5 query of quoted terms (AND), so no input is FTS syntax. */
export function ftsQuery(q: string): string | undefined {
  const terms = q.match(/[\p{L}\p{N}_]+/gu) ?? []
  if (terms.length === 0) return undefined
  return terms.slice(0, 16).map((t) => `"${t}"`).join(' ')
}


export class SqliteMail implements MailStore {
  /** Messages written in the current transaction, FTS-indexed at its end (see `writing`). */
  private readonly unindexed: Array<[number | bigint, string]> = []

  constructor(private readonly db: Database) {}

  /**
   * A write transaction that inserts messages: their FTS rows go in at the end, after every
   * savepoint of the transaction (FTS5 flushes a segment per savepoint it sees pending terms at).
   */
  private writing<T>(fn: () => T): T {
    return this.db.transaction((): T => {
      this.unindexed.length = 0
      try {
        const out = fn()
        const index = this.stmt('INSERT INTO messages_fts (rowid, text) VALUES (?, ?)')
        for (const [rowid, text] of this.unindexed) index.run(rowid, text)
        return out
      } finally {
        this.unindexed.length = 0
      }
    })()
  }

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  private inFlight(agentId: string, now: number): number {
    const r = this
      .stmt(
        `SELECT COUNT(*) AS n FROM deliveries WHERE agent_id = ? AND seq > (SELECT delivery_ack_seq FROM agents WHERE id = ?)
           AND status IN ('queued', 'delivered') AND expires_at > ?`,
      )
      .get(agentId, agentId, now) as { n: number }
    return r.n
  }

  /**
   * Depth cap. Every queued|delivered row lies above the ack cursor (a cumulative ack
   * finishes all rows at or below it), so `delivery_seq - delivery_ack_seq` bounds the
   * in-flight count from above: only an agent near the cap pays for counting its rows.
   */
  private atCap(agentId: string, now: number, maxInFlight: number): boolean {
    const a = this.stmt('SELECT delivery_seq, delivery_ack_seq FROM agents WHERE id = ?').get(agentId) as
      | { delivery_seq: number; delivery_ack_seq: number }
      | undefined
    if (a && a.delivery_seq - a.delivery_ack_seq < maxInFlight) return false
    return this.inFlight(agentId, now) >= maxInFlight
  }

  /** Must run inside `writing` (the FTS row is written at its end). */
  private insertMessage(m: MessageInsert): MessageRow {
    const { lastInsertRowid } = this
      .stmt(
        `INSERT INTO messages (id, workspace_id, agent_id, channel_id, conversation_id, text, mode, attachments, thread_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(m.id, m.workspaceId, m.agentId, m.channelId, m.conversationId, m.text, m.mode, JSON.stringify(m.attachments), m.threadId, m.createdAt)
    this.unindexed.push([lastInsertRowid, m.text])
    return { ...m }
  }

  /** Takes the next seq from the agent's high-water counter, so seqs are never reused. */
  private insertDelivery(workspaceId: string, message: MessageRow, recipientId: string, now: number, ttlMs: number): DeliveryRow {
    const { delivery_seq: seq } = this
      .stmt('UPDATE agents SET delivery_seq = delivery_seq + 1 WHERE id = ? RETURNING delivery_seq')
      .get(recipientId) as { delivery_seq: number }
    const row: DeliveryRow = {
      id: deliveryId(message.id, recipientId),
      workspaceId,
      messageId: message.id,
      agentId: recipientId,
      seq,
      status: 'queued',
      mode: message.mode,
      expiresAt: now + ttlMs,
      deliveredAt: null,
      ackedAt: null,
      deadLetteredAt: null,
      reason: null,
      failedAt: null,
      createdAt: now,
    }
    this
      .stmt(
        `INSERT INTO deliveries (id, workspace_id, message_id, agent_id, seq, status, mode, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(row.id, workspaceId, message.id, recipientId, seq, row.mode, row.expiresAt, now)
    return row
  }

  /** Delivery rows for every recipient with room; a durable failure row for each one at the cap. */
  private fanOut(f: FanOut): PostChannelResult {
    const deliveries: DeliveryRow[] = []
    const rejected: string[] = []
    const failures: DeliveryFailureRow[] = []
    for (const r of f.recipients) {
      if (r.id === f.from.id) continue
      if (this.atCap(r.id, f.now, f.maxInFlight)) {
        rejected.push(r.name)
        const failure: DeliveryFailureRow = {
          id: newId('dfail_'), workspaceId: f.workspaceId, messageId: f.message.id, recipientId: r.id, senderId: f.from.id,
          reason: 'depth_cap', createdAt: f.now,
        }
        this
      .stmt('INSERT INTO delivery_failures (id, workspace_id, message_id, recipient_id, sender_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(failure.id, failure.workspaceId, failure.messageId, failure.recipientId, failure.senderId, failure.reason, failure.createdAt)
        failures.push(failure)
        continue
      }
      deliveries.push(this.insertDelivery(f.workspaceId, f.message, r.id, f.now, f.ttlMs))
    }
    return { message: f.message, deliveries, rejected, failures }
  }

  /** The DM write; runs inside the caller's transaction. */
  private writeDm(input: PostDmInput): PostDmResult {
    // Reject-new: the cap is checked before anything is written.
    if (this.atCap(input.to.id, input.now, input.maxInFlight)) return { ok: false, reason: 'mailbox_full' }
    const [a, b] = [input.from.id, input.to.id].sort()
    let conv = this
      .stmt("SELECT * FROM conversations WHERE workspace_id = ? AND agent_a = ? AND agent_b = ? AND kind = 'dm'")
      .get(input.workspaceId, a, b) as Raw | undefined
    if (!conv) {
      this
        .stmt("INSERT INTO conversations (id, workspace_id, agent_a, agent_b, kind, created_at) VALUES (?, ?, ?, ?, 'dm', ?)")
        .run(input.conversationId, input.workspaceId, a, b, input.now)
      const add = this.stmt('INSERT OR IGNORE INTO conversation_members (conversation_id, agent_id, joined_at) VALUES (?, ?, ?)')
      add.run(input.conversationId, a, input.now)
      add.run(input.conversationId, b, input.now)
      conv = { id: input.conversationId, workspace_id: input.workspaceId, agent_a: a, agent_b: b, kind: 'dm', name: null, created_at: input.now }
    }
    const conversation = toConversation(conv)
    const message = this.insertMessage({
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: null,
      conversationId: conversation.id, text: input.text, mode: input.mode, attachments: input.attachments, threadId: null, createdAt: input.now,
    })
    const delivery = this.insertDelivery(input.workspaceId, message, input.to.id, input.now, input.ttlMs)
    return { ok: true, message, conversation, delivery }
  }

  /** The channel-post write; runs inside the caller's transaction. */
  private writeChannelMessage(input: PostChannelInput): PostChannelResult {
    const message = this.insertMessage({
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: input.channel.id,
      conversationId: null, text: input.text, mode: input.mode, attachments: input.attachments, threadId: input.threadId ?? null,
      createdAt: input.now,
    })
    const recipients = this
      .stmt(
        `SELECT a.id, a.name FROM channel_members m JOIN agents a ON a.id = m.agent_id
         WHERE m.channel_id = ? AND a.id != ? ORDER BY a.name`,
      )
      .all(input.channel.id, input.from.id) as Array<{ id: string; name: string }>
    return this.fanOut({ ...input, message, recipients })
  }

  /** The conversation-post write; runs inside the caller's transaction. */
  private writeConversation(input: PostConversationInput): PostChannelResult {
    const message = this.insertMessage({
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: null,
      conversationId: input.conversation.id, text: input.text, mode: input.mode, attachments: input.attachments,
      threadId: input.threadId ?? null, createdAt: input.now,
    })
    const recipients = this
      .stmt(
        `SELECT a.id, a.name FROM conversation_members m JOIN agents a ON a.id = m.agent_id
         WHERE m.conversation_id = ? AND a.id != ? ORDER BY a.name`,
      )
      .all(input.conversation.id, input.from.id) as Array<{ id: string; name: string }>
    return this.fanOut({ ...input, message, recipients })
  }

  postDm(input: PostDmInput): PostDmResult {
    return this.writing(() => this.writeDm(input))
  }

  postChannelMessage(input: PostChannelInput): PostChannelResult {
    return this.writing(() => this.writeChannelMessage(input))
  }

  postConversation(input: PostConversationInput): PostChannelResult {
    return this.writing(() => this.writeConversation(input))
  }

  /** One post of a batch in its own savepoint: a failure rolls back this post only. */
  private postIsolated(input: PostInput): PostOutcome {
    const indexed = this.unindexed.length
    try {
      return this.db.transaction((): PostOutcome => {
        if (input.kind === 'dm') {
          const r = this.writeDm(input)
          if (!r.ok) return { status: 'mailbox_full' }
          return { status: 'posted', message: r.message, conversation: r.conversation, deliveries: [r.delivery], rejected: [], failures: [] }
        }
        const r = input.kind === 'channel' ? this.writeChannelMessage(input) : this.writeConversation(input)
        return { status: 'posted', conversation: input.kind === 'conversation' ? input.conversation : null, ...r }
      })()
    } catch (error) {
      this.unindexed.length = indexed // rolled back: nothing to index
      // The id is taken: a retried Idempotency-Key (possibly twice in this very batch).
      if (this.stmt('SELECT 1 FROM messages WHERE id = ?').get(input.messageId)) return { status: 'duplicate' }
      return { status: 'failed', error }
    }
  }

  commit(batch: MailBatch): MailBatchResult {
    return this.writing((): MailBatchResult => {
      const mark = this.stmt("UPDATE deliveries SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'queued'")
      const delivered = batch.delivered.map((id) => mark.run(batch.at, id).changes > 0)
      const acks = batch.acks.map((a) => this.ackRows(a.agentId, a.upToSeq, batch.at))
      const posts = batch.posts.map((p) => this.postIsolated(p))
      return { delivered, acks, posts }
    })
  }

  createGroup(conv: ConversationRow, memberIds: string[]): void {
    this.db.transaction(() => {
      this
      .stmt('INSERT INTO conversations (id, workspace_id, agent_a, agent_b, kind, name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(conv.id, conv.workspaceId, conv.id, conv.id, 'group', conv.name, conv.createdAt)
      const add = this.stmt('INSERT OR IGNORE INTO conversation_members (conversation_id, agent_id, joined_at) VALUES (?, ?, ?)')
      for (const id of memberIds) add.run(conv.id, id, conv.createdAt)
    })()
  }

  addConversationMember(conversationId: string, agentId: string, at: number): boolean {
    return this
      .stmt('INSERT OR IGNORE INTO conversation_members (conversation_id, agent_id, joined_at) VALUES (?, ?, ?)')
      .run(conversationId, agentId, at).changes > 0
  }

  removeConversationMember(conversationId: string, agentId: string): boolean {
    return this.stmt('DELETE FROM conversation_members WHERE conversation_id = ? AND agent_id = ?').run(conversationId, agentId).changes > 0
  }

  conversationMembers(conversationId: string): string[] {
    return (this
      .stmt('SELECT agent_id FROM conversation_members WHERE conversation_id = ? ORDER BY joined_at, agent_id')
      .all(conversationId) as Array<{ agent_id: string }>).map((r) => r.agent_id)
  }

  message(workspaceId: string, id: string): MessageRow | undefined {
    const r = this.stmt('SELECT * FROM messages WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toMessage(r)
  }

  deliveriesForMessage(messageId: string): DeliveryRow[] {
    return (this.stmt('SELECT * FROM deliveries WHERE message_id = ? ORDER BY agent_id').all(messageId) as Raw[]).map(toDelivery)
  }

  failuresForMessage(messageId: string): DeliveryFailureRow[] {
    return (this.stmt('SELECT * FROM delivery_failures WHERE message_id = ? ORDER BY created_at').all(messageId) as Raw[]).map(toFailure)
  }

  conversation(workspaceId: string, id: string): ConversationRow | undefined {
    const r = this.stmt('SELECT * FROM conversations WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toConversation(r)
  }

  conversationsFor(agentId: string): ConversationRow[] {
    return (this
      .stmt(
        `SELECT c.* FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
         WHERE m.agent_id = ? ORDER BY c.created_at DESC`,
      )
      .all(agentId) as Raw[]).map(toConversation)
  }

  private page(column: 'channel_id' | 'conversation_id', key: string, limit: number, before?: string): MessageRow[] {
    // Top-level messages only; thread replies are read through /messages/:id/replies.
    const rows = this
      .stmt(
        `SELECT * FROM messages WHERE ${column} = ? AND thread_id IS NULL
           AND (? IS NULL OR rowid < (SELECT rowid FROM messages WHERE id = ?))
         ORDER BY rowid DESC LIMIT ?`,
      )
      .all(key, before ?? null, before ?? null, limit) as Raw[]
    // Newest page first in SQL, oldest first in the answer (chat order).
    return rows.map(toMessage).reverse()
  }

  conversationMessages(conversationId: string, limit: number, before?: string): MessageRow[] {
    return this.page('conversation_id', conversationId, limit, before)
  }

  channelMessages(channelId: string, limit: number, before?: string): MessageRow[] {
    return this.page('channel_id', channelId, limit, before)
  }

  replies(parentId: string, limit: number): MessageRow[] {
    return (this.stmt('SELECT * FROM messages WHERE thread_id = ? ORDER BY rowid LIMIT ?').all(parentId, limit) as Raw[]).map(toMessage)
  }

  replyCount(parentId: string): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM messages WHERE thread_id = ?').get(parentId) as { n: number }).n
  }

  pendingFor(agentId: string, now: number, includeDelivered: boolean): DeliveryRow[] {
    const statuses = includeDelivered ? "('queued', 'delivered')" : "('queued')"
    return (this
      .stmt(
        `SELECT d.* FROM deliveries d JOIN agents a ON a.id = d.agent_id
         WHERE d.agent_id = ? AND d.status IN ${statuses} AND d.seq > a.delivery_ack_seq AND d.expires_at > ?
         ORDER BY d.seq`,
      )
      .all(agentId, now) as Raw[]).map(toDelivery)
  }

  pendingMail(agentId: string, now: number, afterSeq: number, includeDelivered: boolean, limit: number): MailItem[] {
    const agent = this.stmt('SELECT delivery_ack_seq FROM agents WHERE id = ?').get(agentId) as { delivery_ack_seq: number } | undefined
    if (!agent) return []
    const statuses = includeDelivered ? "('queued', 'delivered')" : "('queued')"
    const rows = this
      .stmt(
        `SELECT d.*, m.agent_id AS m_agent_id, m.channel_id AS m_channel_id, m.conversation_id AS m_conversation_id, m.text AS m_text,
                m.mode AS m_mode, m.attachments AS m_attachments, m.thread_id AS m_thread_id, m.created_at AS m_created_at,
                s.name AS sender_name, c.name AS channel_name, cv.kind AS conversation_kind
         FROM deliveries d
         JOIN messages m ON m.id = d.message_id
         LEFT JOIN agents s ON s.id = m.agent_id
         LEFT JOIN channels c ON c.id = m.channel_id
         LEFT JOIN conversations cv ON cv.id = m.conversation_id
         WHERE d.agent_id = ? AND d.seq > ? AND d.status IN ${statuses} AND d.expires_at > ?
         ORDER BY d.seq LIMIT ?`,
      )
      .all(agentId, Math.max(agent.delivery_ack_seq, afterSeq), now, limit) as Raw[]
    return rows.map((r) => {
      const delivery = toDelivery(r)
      return {
        delivery,
        message: toMessage({
          id: r.message_id, workspace_id: r.workspace_id, agent_id: r.m_agent_id, channel_id: r.m_channel_id,
          conversation_id: r.m_conversation_id, text: r.m_text, mode: r.m_mode, attachments: r.m_attachments,
          thread_id: r.m_thread_id, created_at: r.m_created_at,
        }),
        senderName: r.sender_name === null || r.sender_name === undefined ? 'unknown' : String(r.sender_name),
        channelName: optStr(r.channel_name),
        conversationKind: r.conversation_kind === 'group' ? 'group' : r.conversation_kind === 'dm' ? 'dm' : null,
      }
    })
  }

  agentsWithQueued(now: number): string[] {
    return (this
      .stmt("SELECT DISTINCT agent_id FROM deliveries WHERE status = 'queued' AND expires_at > ?")
      .all(now) as Array<{ agent_id: string }>).map((r) => r.agent_id)
  }

  agentsWithUnackedDelivered(deliveredBefore: number, now: number): string[] {
    return (this
      .stmt("SELECT DISTINCT agent_id FROM deliveries WHERE status = 'delivered' AND delivered_at < ? AND expires_at > ?")
      .all(deliveredBefore, now) as Array<{ agent_id: string }>).map((r) => r.agent_id)
  }

  markDelivered(id: string, at: number): boolean {
    return this.stmt("UPDATE deliveries SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'queued'").run(at, id).changes > 0
  }

  /** Cumulative ack; runs inside the caller's transaction. */
  private ackRows(agentId: string, upToSeq: number, at: number): DeliveryRow[] {
    const before = this.stmt('SELECT delivery_ack_seq FROM agents WHERE id = ?').get(agentId) as { delivery_ack_seq: number } | undefined
    if (!before) return []
    // Clamp to the high-water mark so a bogus ack cannot hide future mail behind the cursor.
    const moved = this
      .stmt(
        `UPDATE agents SET delivery_ack_seq = MIN(?, delivery_seq)
         WHERE id = ? AND delivery_ack_seq < MIN(?, delivery_seq)`,
      )
      .run(upToSeq, agentId, upToSeq).changes > 0
    if (!moved) return []
    // Rows at or below the old cursor are all finished already (acked or dead-lettered).
    const rows = (this
      .stmt(
        `UPDATE deliveries SET status = 'acked', acked_at = ?
         WHERE agent_id = ? AND seq > ? AND seq <= ? AND status IN ('queued', 'delivered', 'failed') RETURNING *`,
      )
      .all(at, agentId, before.delivery_ack_seq, upToSeq) as Raw[]).map(toDelivery)
    // An ack also reads: receipts for every message it covered.
    const receipt = this.stmt('INSERT OR IGNORE INTO message_reads (message_id, agent_id, read_at) VALUES (?, ?, ?)')
    for (const r of rows) receipt.run(r.messageId, agentId, at)
    return rows.sort((a, b) => a.seq - b.seq)
  }

  ackUpTo(agentId: string, upToSeq: number, at: number): DeliveryRow[] {
    return this.db.transaction(() => this.ackRows(agentId, upToSeq, at))()
  }

  compactCursor(agentId: string): number {
    return this.db.transaction((): number => {
      const agent = this.stmt('SELECT delivery_seq, delivery_ack_seq FROM agents WHERE id = ?').get(agentId) as
        | { delivery_seq: number; delivery_ack_seq: number }
        | undefined
      if (!agent) return 0
      const open = this
      .stmt("SELECT MIN(seq) AS s FROM deliveries WHERE agent_id = ? AND seq > ? AND status NOT IN ('acked', 'dead_lettered')")
        .get(agentId, agent.delivery_ack_seq) as { s: number | null }
      const target = open.s === null ? agent.delivery_seq : open.s - 1
      if (target > agent.delivery_ack_seq) {
        this.stmt('UPDATE agents SET delivery_ack_seq = ? WHERE id = ? AND delivery_ack_seq < ?').run(target, agentId, target)
        return target
      }
      return agent.delivery_ack_seq
    })()
  }

  expire(now: number): DeliveryRow[] {
    return (this
      .stmt(
        `UPDATE deliveries SET status = 'dead_lettered', dead_lettered_at = ?, reason = 'ttl_expired'
         WHERE status IN ('queued', 'delivered', 'failed') AND expires_at <= ? RETURNING *`,
      )
      .all(now, now) as Raw[]).map(toDelivery)
  }

  markRead(messageId: string, agentId: string, at: number): DeliveryRow | undefined {
    return this.db.transaction((): DeliveryRow | undefined => {
      this.stmt('INSERT OR IGNORE INTO message_reads (message_id, agent_id, read_at) VALUES (?, ?, ?)').run(messageId, agentId, at)
      const r = this
      .stmt(
          `UPDATE deliveries SET status = 'acked', acked_at = ?
           WHERE message_id = ? AND agent_id = ? AND status IN ('queued', 'delivered', 'failed') RETURNING *`,
        )
        .get(at, messageId, agentId) as Raw | undefined
      return r && toDelivery(r)
    })()
  }

  readers(messageId: string): Array<{ agentId: string; readAt: number }> {
    return (this
      .stmt('SELECT agent_id, read_at FROM message_reads WHERE message_id = ? ORDER BY read_at, agent_id')
      .all(messageId) as Array<{ agent_id: string; read_at: number }>).map((r) => ({ agentId: r.agent_id, readAt: r.read_at }))
  }

  search(q: SearchQuery): MessageRow[] {
    const match = ftsQuery(q.q)
    if (!match) return []
    const rows = this
      .stmt(
        `SELECT m.* FROM messages_fts f JOIN messages m ON m.rowid = f.rowid
         WHERE messages_fts MATCH ? AND m.workspace_id = ?
           AND (? IS NULL OR m.channel_id = ?)
           AND (? IS NULL OR m.agent_id = ?)
           AND (? IS NULL OR m.channel_id IS NOT NULL
                OR m.conversation_id IN (SELECT conversation_id FROM conversation_members WHERE agent_id = ?))
         ORDER BY m.rowid DESC LIMIT ?`,
      )
      .all(match, q.workspaceId, q.channelId ?? null, q.channelId ?? null, q.fromId ?? null, q.fromId ?? null,
        q.viewerId ?? null, q.viewerId ?? null, q.limit) as Raw[]
    return rows.map(toMessage)
  }

  delivery(workspaceId: string, id: string): DeliveryRow | undefined {
    const r = this.stmt('SELECT * FROM deliveries WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toDelivery(r)
  }

  deliveriesFor(agentId: string, statuses: readonly string[], limit: number, now: number, afterSeq = 0): DeliveryRow[] {
    const wanted = statuses.filter((s) => (DELIVERY_STATUSES as readonly string[]).includes(s))
    if (wanted.length === 0) return []
    const marks = wanted.map(() => '?').join(', ')
    const liveOnly = wanted.every((s) => s === 'queued' || s === 'delivered')
    // Unfinished rows all lie above the ack cursor: start there instead of at the agent's first row.
    const unfinished = wanted.every((s) => s === 'queued' || s === 'delivered' || s === 'failed')
    const from = unfinished
      ? Math.max(afterSeq, (this.stmt('SELECT delivery_ack_seq FROM agents WHERE id = ?').get(agentId) as { delivery_ack_seq: number } | undefined)?.delivery_ack_seq ?? 0)
      : afterSeq
    return (this
      .stmt(
        `SELECT * FROM deliveries WHERE agent_id = ? AND seq > ? AND status IN (${marks}) AND (? = 0 OR expires_at > ?) ORDER BY seq LIMIT ?`,
      )
      .all(agentId, from, ...wanted, liveOnly ? 1 : 0, now, limit) as Raw[]).map(toDelivery)
  }

  ackOne(id: string, at: number): DeliveryRow | undefined {
    const r = this
      .stmt("UPDATE deliveries SET status = 'acked', acked_at = ? WHERE id = ? AND status IN ('queued', 'delivered', 'failed') RETURNING *")
      .get(at, id) as Raw | undefined
    if (r) this.stmt('INSERT OR IGNORE INTO message_reads (message_id, agent_id, read_at) VALUES (?, ?, ?)').run(r.message_id, r.agent_id, at)
    return r && toDelivery(r)
  }

  failOne(id: string, at: number, reason: string): DeliveryRow | undefined {
    const r = this
      .stmt("UPDATE deliveries SET status = 'failed', failed_at = ?, reason = ? WHERE id = ? AND status IN ('queued', 'delivered') RETURNING *")
      .get(at, reason, id) as Raw | undefined
    return r && toDelivery(r)
  }

  deferOne(id: string): DeliveryRow | undefined {
    const r = this
      .stmt("UPDATE deliveries SET status = 'queued' WHERE id = ? AND status IN ('delivered', 'failed') RETURNING *")
      .get(id) as Raw | undefined
    return r && toDelivery(r)
  }

  deliveriesAfter(agentId: string, afterSeq: number, limit: number): DeliveryRow[] {
    return (this
      .stmt("SELECT * FROM deliveries WHERE agent_id = ? AND seq > ? AND status != 'dead_lettered' ORDER BY seq LIMIT ?")
      .all(agentId, afterSeq, limit) as Raw[]).map(toDelivery)
  }

  inbox(agentId: string): InboxRow {
    const channels = this
      .stmt(
        `SELECT c.name AS channel_name, COUNT(*) AS n FROM deliveries d
         JOIN messages m ON m.id = d.message_id JOIN channels c ON c.id = m.channel_id
         WHERE d.agent_id = ? AND d.seq > (SELECT delivery_ack_seq FROM agents WHERE id = ?) AND d.status IN ('queued', 'delivered', 'failed')
         GROUP BY c.id ORDER BY c.name`,
      )
      .all(agentId, agentId) as Array<{ channel_name: string; n: number }>
    const dms = this
      .stmt(
        `SELECT m.conversation_id AS conversation_id, COUNT(*) AS n, MAX(m.rowid) AS last_rowid FROM deliveries d
         JOIN messages m ON m.id = d.message_id
         WHERE d.agent_id = ? AND d.seq > (SELECT delivery_ack_seq FROM agents WHERE id = ?) AND m.conversation_id IS NOT NULL
           AND d.status IN ('queued', 'delivered', 'failed')
         GROUP BY m.conversation_id ORDER BY last_rowid DESC`,
      )
      .all(agentId, agentId) as Array<{ conversation_id: string; n: number; last_rowid: number }>
    const lastStmt = this.stmt(
      'SELECT m.*, a.name AS from_name FROM messages m JOIN agents a ON a.id = m.agent_id WHERE m.rowid = ?',
    )
    return {
      unreadChannels: channels.map((r) => ({ channelName: r.channel_name, unreadCount: r.n })),
      unreadDms: dms.map((r) => {
        const last = lastStmt.get(r.last_rowid) as Raw
        return { conversationId: r.conversation_id, fromName: String(last.from_name), unreadCount: r.n, lastMessage: toMessage(last) }
      }),
    }
  }
}
