/**
 * SQLite mailbox: messages, conversations and per-recipient delivery rows.
 * Every post writes the message and all of its delivery rows in one transaction,
 * so a crash can never leave a message without its mail (or mail without a message).
 */
import type { Database } from 'better-sqlite3'
import type { DeliveryStatus } from '../../../shared/wire'
import { deliveryId } from '../ids'
import type {
  ConversationRow, DeliveryRow, InboxRow, InjectionMode, MailStore, MessageRow,
  PostChannelInput, PostChannelResult, PostDmInput, PostDmResult,
} from './types'

type Raw = Record<string, unknown>

const STATUSES: readonly DeliveryStatus[] = ['queued', 'delivered', 'acked', 'failed', 'dead_lettered']
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

function toMessage(r: Raw): MessageRow {
  let attachments: unknown[] = []
  try {
    const parsed: unknown = JSON.parse(String(r.attachments))
    if (Array.isArray(parsed)) attachments = parsed
  } catch { /* keep [] */ }
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    agentId: String(r.agent_id),
    channelId: r.channel_id == null ? null : String(r.channel_id),
    conversationId: r.conversation_id == null ? null : String(r.conversation_id),
    text: String(r.text),
    mode: r.mode === 'steer' ? 'steer' : 'wait',
    attachments,
    createdAt: Number(r.created_at),
  }
}

function toDelivery(r: Raw): DeliveryRow {
  const status = STATUSES.find((s) => s === r.status) ?? 'queued'
  return {
    id: String(r.id),
    workspaceId: String(r.workspace_id),
    messageId: String(r.message_id),
    agentId: String(r.agent_id),
    seq: Number(r.seq),
    status,
    mode: r.mode === 'steer' ? 'steer' : 'wait',
    expiresAt: Number(r.expires_at),
    deliveredAt: optNum(r.delivered_at),
    ackedAt: optNum(r.acked_at),
    deadLetteredAt: optNum(r.dead_lettered_at),
    createdAt: Number(r.created_at),
  }
}

function toConversation(r: Raw): ConversationRow {
  return { id: String(r.id), workspaceId: String(r.workspace_id), agentA: String(r.agent_a), agentB: String(r.agent_b), createdAt: Number(r.created_at) }
}

interface MessageInsert {
  id: string; workspaceId: string; agentId: string; channelId: string | null; conversationId: string | null
  text: string; mode: InjectionMode; attachments: unknown[]; createdAt: number
}

export class SqliteMail implements MailStore {
  constructor(private readonly db: Database) {}

  private inFlight(agentId: string, now: number): number {
    const r = this.db
      .prepare("SELECT COUNT(*) AS n FROM deliveries WHERE agent_id = ? AND status IN ('queued', 'delivered') AND expires_at > ?")
      .get(agentId, now) as { n: number }
    return r.n
  }

  private insertMessage(m: MessageInsert): MessageRow {
    this.db
      .prepare(
        `INSERT INTO messages (id, workspace_id, agent_id, channel_id, conversation_id, text, mode, attachments, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(m.id, m.workspaceId, m.agentId, m.channelId, m.conversationId, m.text, m.mode, JSON.stringify(m.attachments), m.createdAt)
    return { ...m }
  }

  /** Takes the next seq from the agent's high-water counter, so seqs are never reused. */
  private insertDelivery(workspaceId: string, message: MessageRow, recipientId: string, now: number, ttlMs: number): DeliveryRow {
    const { delivery_seq: seq } = this.db
      .prepare('UPDATE agents SET delivery_seq = delivery_seq + 1 WHERE id = ? RETURNING delivery_seq')
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
      createdAt: now,
    }
    this.db
      .prepare(
        `INSERT INTO deliveries (id, workspace_id, message_id, agent_id, seq, status, mode, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      )
      .run(row.id, workspaceId, message.id, recipientId, seq, row.mode, row.expiresAt, now)
    return row
  }

  postDm(input: PostDmInput): PostDmResult {
    return this.db.transaction((): PostDmResult => {
      // Reject-new: the cap is checked before anything is written.
      if (this.inFlight(input.to.id, input.now) >= input.maxInFlight) return { ok: false, reason: 'mailbox_full' }
      const [a, b] = [input.from.id, input.to.id].sort()
      let conv = this.db
        .prepare('SELECT * FROM conversations WHERE workspace_id = ? AND agent_a = ? AND agent_b = ?')
        .get(input.workspaceId, a, b) as Raw | undefined
      if (!conv) {
        this.db
          .prepare('INSERT INTO conversations (id, workspace_id, agent_a, agent_b, created_at) VALUES (?, ?, ?, ?, ?)')
          .run(input.conversationId, input.workspaceId, a, b, input.now)
        conv = { id: input.conversationId, workspace_id: input.workspaceId, agent_a: a, agent_b: b, created_at: input.now }
      }
      const conversation = toConversation(conv)
      const message = this.insertMessage({
        id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: null,
        conversationId: conversation.id, text: input.text, mode: input.mode, attachments: input.attachments, createdAt: input.now,
      })
      const delivery = this.insertDelivery(input.workspaceId, message, input.to.id, input.now, input.ttlMs)
      return { ok: true, message, conversation, delivery }
    })()
  }

  postChannelMessage(input: PostChannelInput): PostChannelResult {
    return this.db.transaction((): PostChannelResult => {
      const message = this.insertMessage({
        id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: input.channel.id,
        conversationId: null, text: input.text, mode: input.mode, attachments: input.attachments, createdAt: input.now,
      })
      const recipients = this.db
        .prepare(
          `SELECT a.id, a.name FROM channel_members m JOIN agents a ON a.id = m.agent_id
           WHERE m.channel_id = ? AND a.id != ? ORDER BY a.name`,
        )
        .all(input.channel.id, input.from.id) as Array<{ id: string; name: string }>
      const deliveries: DeliveryRow[] = []
      const rejected: string[] = []
      for (const r of recipients) {
        if (this.inFlight(r.id, input.now) >= input.maxInFlight) {
          rejected.push(r.name)
          continue
        }
        deliveries.push(this.insertDelivery(input.workspaceId, message, r.id, input.now, input.ttlMs))
      }
      return { message, deliveries, rejected }
    })()
  }

  message(workspaceId: string, id: string): MessageRow | undefined {
    const r = this.db.prepare('SELECT * FROM messages WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toMessage(r)
  }

  deliveriesForMessage(messageId: string): DeliveryRow[] {
    return (this.db.prepare('SELECT * FROM deliveries WHERE message_id = ? ORDER BY agent_id').all(messageId) as Raw[]).map(toDelivery)
  }

  conversation(workspaceId: string, id: string): ConversationRow | undefined {
    const r = this.db.prepare('SELECT * FROM conversations WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toConversation(r)
  }

  conversationsFor(agentId: string): ConversationRow[] {
    return (this.db
      .prepare('SELECT * FROM conversations WHERE agent_a = ? OR agent_b = ? ORDER BY created_at DESC')
      .all(agentId, agentId) as Raw[]).map(toConversation)
  }

  private page(column: 'channel_id' | 'conversation_id', key: string, limit: number, before?: string): MessageRow[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM messages WHERE ${column} = ?
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

  pendingFor(agentId: string, now: number, includeDelivered: boolean): DeliveryRow[] {
    const statuses = includeDelivered ? "('queued', 'delivered')" : "('queued')"
    return (this.db
      .prepare(
        `SELECT d.* FROM deliveries d JOIN agents a ON a.id = d.agent_id
         WHERE d.agent_id = ? AND d.status IN ${statuses} AND d.seq > a.delivery_ack_seq AND d.expires_at > ?
         ORDER BY d.seq`,
      )
      .all(agentId, now) as Raw[]).map(toDelivery)
  }

  agentsWithQueued(now: number): string[] {
    return (this.db
      .prepare("SELECT DISTINCT agent_id FROM deliveries WHERE status = 'queued' AND expires_at > ?")
      .all(now) as Array<{ agent_id: string }>).map((r) => r.agent_id)
  }

  markDelivered(id: string, at: number): boolean {
    return this.db.prepare("UPDATE deliveries SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'queued'").run(at, id).changes > 0
  }

  ackUpTo(agentId: string, upToSeq: number, at: number): boolean {
    return this.db.transaction((): boolean => {
      // Clamp to the high-water mark so a bogus ack cannot hide future mail behind the cursor.
      const moved = this.db
        .prepare(
          `UPDATE agents SET delivery_ack_seq = MIN(?, delivery_seq)
           WHERE id = ? AND delivery_ack_seq < MIN(?, delivery_seq)`,
        )
        .run(upToSeq, agentId, upToSeq).changes > 0
      if (!moved) return false
      this.db
        .prepare(
          `UPDATE deliveries SET status = 'acked', acked_at = ?
           WHERE agent_id = ? AND seq <= ? AND status IN ('queued', 'delivered', 'failed')`,
        )
        .run(at, agentId, upToSeq)
      return true
    })()
  }

  expire(now: number): number {
    return this.db
      .prepare(
        `UPDATE deliveries SET status = 'dead_lettered', dead_lettered_at = ?
         WHERE status IN ('queued', 'delivered') AND expires_at <= ?`,
      )
      .run(now, now).changes
  }

  inbox(agentId: string): InboxRow {
    const channels = this.db
      .prepare(
        `SELECT c.name AS channel_name, COUNT(*) AS n FROM deliveries d
         JOIN messages m ON m.id = d.message_id JOIN channels c ON c.id = m.channel_id
         WHERE d.agent_id = ? AND d.status IN ('queued', 'delivered', 'failed')
         GROUP BY c.id ORDER BY c.name`,
      )
      .all(agentId) as Array<{ channel_name: string; n: number }>
    const dms = this.db
      .prepare(
        `SELECT m.conversation_id AS conversation_id, COUNT(*) AS n, MAX(m.rowid) AS last_rowid FROM deliveries d
         JOIN messages m ON m.id = d.message_id
         WHERE d.agent_id = ? AND m.conversation_id IS NOT NULL AND d.status IN ('queued', 'delivered', 'failed')
         GROUP BY m.conversation_id ORDER BY last_rowid DESC`,
      )
      .all(agentId) as Array<{ conversation_id: string; n: number; last_rowid: number }>
    const lastStmt = this.db.prepare(
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
