/**
 * PostgreSQL mailbox: the same transactions and guards as sqlite-mail.ts, made safe for
 * several engine instances writing at once.
 *
 * - A post writes its message first, then locks its recipients' agent rows (`FOR NO KEY
 *   UPDATE`, in id order so two fan-outs over overlapping members cannot deadlock), then in
 *   one statement counts their in-flight mail, takes their next seqs and inserts the
 *   delivery rows, then commits. Concurrent posts to one agent queue on that row lock, so
 *   the depth cap counts every committed row and each post's `delivery_seq + 1` starts from
 *   the previous committer's value. A post that rolls back rolls its increment back too,
 *   so committed seqs are unique and gap-free.
 *   (NO KEY UPDATE, not UPDATE: the foreign-key checks of other inserts take KEY SHARE on
 *   the same rows, which UPDATE would block and NO KEY UPDATE does not.)
 * - Every other state change is one guarded UPDATE … WHERE status IN (…) RETURNING, which
 *   PostgreSQL re-evaluates on the newest row version when it had to wait for another
 *   writer, so each transition is reported by exactly one caller.
 * - Transactions touching deliveries and read receipts always do deliveries first.
 */
import type { Pool, PoolClient } from 'pg'
import type { DeliveryStatus } from '../../../../shared/wire'
import { deliveryId, newId } from '../../ids'
import type {
  AgentRow, AsyncMailStore, FanOut, MessageInsert, ConversationRow, DeliveryFailureRow, DeliveryRow, InboxRow, InjectionMode, MailBatch, MailBatchResult,
  MailItem, MessageRow, PostChannelInput, PostChannelResult, PostConversationInput, PostDmInput, PostDmResult, PostInput, PostOutcome,
  SearchQuery,
} from '../types'
import { changes, isRetryable, one, retrying, rows, tx, type Raw } from './db'
import { jsonb, MESSAGE_COLUMNS, messageColumns, toConversation, toDelivery, toFailure, toMessage } from './rows'

const STATUSES: readonly DeliveryStatus[] = ['queued', 'delivered', 'acked', 'failed', 'dead_lettered']
const M = messageColumns('m')

/**
 * The words of a search (the SQLite store's FTS5 rule): at most 16, each matched as a
 * phrase; an underscore separates words there (FTS5 indexes "a_b" as a, b), so here too.
 */
export function searchTerms(q: string): string[] {
  return (q.match(/[\p{L}\p{N}_]+/gu) ?? []).slice(0, 16).map((t) => t.replace(/_+/g, ' ').trim()).filter((t) => t !== '')
}


/** Byte order of UTF-8 strings: SQLite's BINARY collation and PostgreSQL's "C". */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

/** Thrown inside a DM's transaction to roll it back when the recipient's mailbox is full. */
const MAILBOX_FULL = Symbol('mailbox_full')

async function insertMessage(c: PoolClient, m: MessageInsert): Promise<MessageRow> {
  await c.query(
    `INSERT INTO messages (id, workspace_id, agent_id, channel_id, conversation_id, text, mode, attachments, thread_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10)`,
    [m.id, m.workspaceId, m.agentId, m.channelId, m.conversationId, m.text, m.mode, jsonb(m.attachments) ?? '[]', m.threadId, m.createdAt],
  )
  return { ...m }
}

/**
 * After the recipients' rows are locked (by this transaction), one statement that, for each
 * recipient, counts its in-flight mail (a fresh snapshot: every post that held the lock before
 * has committed), takes the next seq from the high-water counter of those below the cap,
 * inserts their delivery rows and (when asked) a durable failure row for the others. Only an
 * agent whose `delivery_seq - delivery_ack_seq` reaches the cap is counted at all (every
 * queued|delivered row lies above the ack cursor, so that difference bounds the count).
 * Seqs are never reused: the counter only grows, and only for rows written.
 */
async function deliver(c: PoolClient, f: FanOut, recordFailures: boolean): Promise<Omit<PostChannelResult, 'message'>> {
  const { message, recipients } = f
  if (recipients.length === 0) return { deliveries: [], rejected: [], failures: [] }
  const failureIds = recipients.map(() => newId('dfail_'))
  const expiresAt = f.now + f.ttlMs
  const out = await rows<{ id: string; n: number; seq: number | null }>(c,
    `WITH r AS (
       SELECT x.aid, x.did, x.fid,
              CASE WHEN ag.delivery_seq - ag.delivery_ack_seq < $5 THEN 0
                   ELSE (SELECT COUNT(*) FROM deliveries d
                         WHERE d.agent_id = x.aid AND d.status IN ('queued', 'delivered') AND d.expires_at > $4) END AS n
       FROM unnest($1::text[], $2::text[], $3::text[]) AS x(aid, did, fid) LEFT JOIN agents ag ON ag.id = x.aid
     ), s AS (
       UPDATE agents a SET delivery_seq = a.delivery_seq + 1 FROM r
       WHERE a.id = r.aid AND r.n < $5 RETURNING a.id, a.delivery_seq
     ), ins AS (
       INSERT INTO deliveries (id, workspace_id, message_id, agent_id, seq, status, mode, expires_at, created_at)
       SELECT r.did, $6, $7, s.id, s.delivery_seq, 'queued', $8, $9, $4 FROM s JOIN r ON r.aid = s.id
       RETURNING id
     ), fail AS (
       INSERT INTO delivery_failures (id, workspace_id, message_id, recipient_id, sender_id, reason, created_at)
       SELECT r.fid, $6, $7, r.aid, $10, 'depth_cap', $4 FROM r WHERE r.n >= $5 AND $11::boolean
       RETURNING id
     )
     SELECT r.aid AS id, r.n, s.delivery_seq AS seq FROM r LEFT JOIN s ON s.id = r.aid`,
    [recipients.map((r) => r.id), recipients.map((r) => deliveryId(message.id, r.id)), failureIds, f.now, f.maxInFlight,
      f.workspaceId, message.id, message.mode, expiresAt, f.from.id, recordFailures],
  )
  const byId = new Map(out.map((r) => [r.id, r]))
  const deliveries: DeliveryRow[] = []
  const rejected: string[] = []
  const failures: DeliveryFailureRow[] = []
  recipients.forEach((r, i) => {
    const got = byId.get(r.id)
    if (got && Number(got.n) >= f.maxInFlight) {
      rejected.push(r.name)
      if (recordFailures) {
        failures.push({
          id: failureIds[i], workspaceId: f.workspaceId, messageId: message.id, recipientId: r.id, senderId: f.from.id, reason: 'depth_cap', createdAt: f.now,
        })
      }
      return
    }
    if (!got || got.seq === null) throw new Error(`agent ${r.id} not found`)
    deliveries.push({
      id: deliveryId(message.id, r.id), workspaceId: f.workspaceId, messageId: message.id, agentId: r.id, seq: Number(got.seq), status: 'queued',
      mode: message.mode, expiresAt, deliveredAt: null, ackedAt: null, deadLetteredAt: null, reason: null, failedAt: null, createdAt: f.now,
    })
  })
  return { deliveries, rejected, failures }
}

/**
 * Locks the recipients' agent rows in id order (every transaction that locks several agents
 * uses that order, so two fan-outs over overlapping members cannot deadlock), then fans out.
 * The message row is written before the locks, so the time each agent's row is held — the
 * part concurrent posts to that agent serialise on — is two statements and the COMMIT.
 */
async function fanOut(c: PoolClient, f: FanOut, lockSql: string, lockParams: unknown[]): Promise<PostChannelResult> {
  const locked = await rows<{ id: string; name: string }>(c, lockSql, lockParams)
  const recipients = locked.filter((r) => r.id !== f.from.id).sort((a, b) => byteOrder(a.name, b.name))
  return { message: f.message, ...(await deliver(c, { ...f, recipients }, true)) }
}

/**
 * Cumulative ack on `c`'s transaction. Clamped to the high-water mark so a bogus ack cannot
 * hide future mail behind the cursor. The row lock the first UPDATE takes orders concurrent
 * acks (and posts) of one agent; a waiting ack re-checks the guard on the cursor the winner left.
 */
async function ackRows(c: PoolClient, agentId: string, upToSeq: number, at: number): Promise<DeliveryRow[]> {
  const moved = (await changes(c,
    `UPDATE agents SET delivery_ack_seq = LEAST($1::bigint, delivery_seq)
     WHERE id = $2 AND delivery_ack_seq < LEAST($1::bigint, delivery_seq)`, [upToSeq, agentId])) > 0
  if (!moved) return []
  const acked = (await rows(c,
    `UPDATE deliveries SET status = 'acked', acked_at = $1
     WHERE agent_id = $2 AND seq <= $3 AND status IN ('queued', 'delivered', 'failed') RETURNING *`, [at, agentId, upToSeq])).map(toDelivery)
  // An ack also reads: receipts for every message it covered.
  if (acked.length) {
    await c.query(
      `INSERT INTO message_reads (message_id, agent_id, read_at) SELECT m.id, $1, $2 FROM unnest($3::text[]) AS m(id)
       ON CONFLICT DO NOTHING`, [agentId, at, acked.map((r) => r.messageId)])
  }
  return acked.sort((x, y) => x.seq - y.seq)
}

export class PgMail implements AsyncMailStore {
  constructor(private readonly pool: Pool) {}

  /** The DM write on `c`; when the mailbox is full it returns so and the caller rolls back what it wrote. */
  private async writeDm(c: PoolClient, input: PostDmInput): Promise<PostDmResult> {
    const [a, b] = [input.from.id, input.to.id].sort()
    const find = () => one(c, "SELECT * FROM conversations WHERE workspace_id = $1 AND agent_a = $2 AND agent_b = $3 AND kind = 'dm'", [input.workspaceId, a, b])
    let conv = await find()
    if (!conv) {
      // Another instance may be opening the same pair's conversation right now: the unique
      // (workspace, a, b) key makes one insert win; the other waits for it and reads its row.
      conv = await one(c,
        `INSERT INTO conversations (id, workspace_id, agent_a, agent_b, kind, created_at) VALUES ($1, $2, $3, $4, 'dm', $5)
         ON CONFLICT (workspace_id, agent_a, agent_b) DO NOTHING RETURNING *`,
        [input.conversationId, input.workspaceId, a, b, input.now])
      if (conv) {
        await c.query(
          `INSERT INTO conversation_members (conversation_id, agent_id, joined_at) VALUES ($1, $2, $4), ($1, $3, $4)
           ON CONFLICT DO NOTHING`, [input.conversationId, a, b, input.now])
      } else {
        conv = await find()
        if (!conv) throw new Error('conversation vanished after a conflicting insert')
      }
    }
    const conversation = toConversation(conv)
    const message = await insertMessage(c, {
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: null,
      conversationId: conversation.id, text: input.text, mode: input.mode, attachments: input.attachments, threadId: null, createdAt: input.now,
    })
    const locked = await rows<{ id: string }>(c, 'SELECT id FROM agents WHERE id = $1 FOR NO KEY UPDATE', [input.to.id])
    if (locked.length === 0) throw new Error(`agent ${input.to.id} not found`)
    const r = await deliver(c, { ...input, message, recipients: [{ id: input.to.id, name: input.to.name }] }, false)
    if (r.rejected.length) return { ok: false, reason: 'mailbox_full' }
    return { ok: true, message, conversation, delivery: r.deliveries[0] }
  }

  private async writeChannelMessage(c: PoolClient, input: PostChannelInput): Promise<PostChannelResult> {
    const message = await insertMessage(c, {
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: input.channel.id,
      conversationId: null, text: input.text, mode: input.mode, attachments: input.attachments, threadId: input.threadId ?? null,
      createdAt: input.now,
    })
    return fanOut(c, { ...input, message, recipients: [] },
      `SELECT a.id, a.name FROM channel_members m JOIN agents a ON a.id = m.agent_id
       WHERE m.channel_id = $1 AND a.id != $2 ORDER BY a.id FOR NO KEY UPDATE OF a`, [input.channel.id, input.from.id])
  }

  private async writeConversation(c: PoolClient, input: PostConversationInput): Promise<PostChannelResult> {
    const message = await insertMessage(c, {
      id: input.messageId, workspaceId: input.workspaceId, agentId: input.from.id, channelId: null,
      conversationId: input.conversation.id, text: input.text, mode: input.mode, attachments: input.attachments,
      threadId: input.threadId ?? null, createdAt: input.now,
    })
    return fanOut(c, { ...input, message, recipients: [] },
      `SELECT a.id, a.name FROM conversation_members m JOIN agents a ON a.id = m.agent_id
       WHERE m.conversation_id = $1 AND a.id != $2 ORDER BY a.id FOR NO KEY UPDATE OF a`, [input.conversation.id, input.from.id])
  }

  async postDm(input: PostDmInput): Promise<PostDmResult> {
    try {
      return await tx(this.pool, async (c) => {
        const r = await this.writeDm(c, input)
        // Reject-new: at the cap nothing is written (the conversation and message roll back too).
        if (!r.ok) throw MAILBOX_FULL
        return r
      })
    } catch (err) {
      if (err === MAILBOX_FULL) return { ok: false, reason: 'mailbox_full' }
      throw err
    }
  }

  postChannelMessage(input: PostChannelInput): Promise<PostChannelResult> {
    return tx(this.pool, (c) => this.writeChannelMessage(c, input))
  }

  postConversation(input: PostConversationInput): Promise<PostChannelResult> {
    return tx(this.pool, (c) => this.writeConversation(c, input))
  }

  /** One post of a batch under its own savepoint: a failure (or a full mailbox) rolls back this post only. */
  private async postIsolated(c: PoolClient, input: PostInput): Promise<PostOutcome> {
    const undo = () => c.query('ROLLBACK TO SAVEPOINT batch_post; RELEASE SAVEPOINT batch_post')
    await c.query('SAVEPOINT batch_post')
    try {
      let outcome: PostOutcome
      if (input.kind === 'dm') {
        const r = await this.writeDm(c, input)
        if (!r.ok) {
          await undo()
          return { status: 'mailbox_full' }
        }
        outcome = { status: 'posted', message: r.message, conversation: r.conversation, deliveries: [r.delivery], rejected: [], failures: [] }
      } else {
        const r = input.kind === 'channel' ? await this.writeChannelMessage(c, input) : await this.writeConversation(c, input)
        outcome = { status: 'posted', conversation: input.kind === 'conversation' ? input.conversation : null, ...r }
      }
      await c.query('RELEASE SAVEPOINT batch_post')
      return outcome
    } catch (error) {
      // A deadlock aborts the whole batch, which tx() then runs again from the start.
      if (isRetryable(error)) throw error
      await undo()
      // A retried Idempotency-Key (earlier in this batch, or already stored): not a failure.
      if (await one(c, 'SELECT 1 FROM messages WHERE id = $1', [input.messageId])) return { status: 'duplicate' }
      return { status: 'failed', error }
    }
  }

  /**
   * Group commit in one transaction. It first locks, in id order, every agent row the batch
   * will lock (recipients of its posts, agents it acks, owners of the rows it marks
   * delivered), so two instances' batches take their locks in one global order instead of
   * post by post (which could deadlock). Then as the SQLite store: delivered marks, acks,
   * posts in order, each post under a savepoint.
   */
  commit(batch: MailBatch): Promise<MailBatchResult> {
    return tx(this.pool, async (c): Promise<MailBatchResult> => {
      const direct = [...batch.acks.map((a) => a.agentId), ...batch.posts.flatMap((p) => (p.kind === 'dm' ? [p.to.id] : []))]
      const channels = batch.posts.flatMap((p) => (p.kind === 'channel' ? [p.channel.id] : []))
      const conversations = batch.posts.flatMap((p) => (p.kind === 'conversation' ? [p.conversation.id] : []))
      if (direct.length || batch.delivered.length || channels.length || conversations.length) {
        await c.query(
          `SELECT id FROM agents WHERE id = ANY($1::text[])
             OR id IN (SELECT agent_id FROM deliveries WHERE id = ANY($2::text[]))
             OR id IN (SELECT agent_id FROM channel_members WHERE channel_id = ANY($3::text[]))
             OR id IN (SELECT agent_id FROM conversation_members WHERE conversation_id = ANY($4::text[]))
           ORDER BY id FOR NO KEY UPDATE`, [direct, batch.delivered, channels, conversations])
      }
      const marked = new Set(batch.delivered.length
        ? (await rows<{ id: string }>(c,
          "UPDATE deliveries SET status = 'delivered', delivered_at = $1 WHERE id = ANY($2::text[]) AND status = 'queued' RETURNING id",
          [batch.at, batch.delivered])).map((r) => r.id)
        : [])
      // A repeated id moved once: its first mention reports it, later ones do not.
      const delivered = batch.delivered.map((id) => marked.delete(id))
      const acks: DeliveryRow[][] = []
      for (const a of batch.acks) acks.push(await ackRows(c, a.agentId, a.upToSeq, batch.at))
      const posts: PostOutcome[] = []
      for (const p of batch.posts) posts.push(await this.postIsolated(c, p))
      return { delivered, acks, posts }
    })
  }

  async createGroup(conv: ConversationRow, memberIds: string[]): Promise<void> {
    await tx(this.pool, async (c) => {
      await c.query('INSERT INTO conversations (id, workspace_id, agent_a, agent_b, kind, name, created_at) VALUES ($1, $2, $1, $1, $3, $4, $5)',
        [conv.id, conv.workspaceId, 'group', conv.name, conv.createdAt])
      if (memberIds.length) {
        await c.query(
          `INSERT INTO conversation_members (conversation_id, agent_id, joined_at)
           SELECT $1, m.id, $2 FROM unnest($3::text[]) AS m(id) ON CONFLICT DO NOTHING`, [conv.id, conv.createdAt, memberIds])
      }
    })
  }

  async addConversationMember(conversationId: string, agentId: string, at: number): Promise<boolean> {
    return (await changes(this.pool,
      'INSERT INTO conversation_members (conversation_id, agent_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [conversationId, agentId, at])) > 0
  }

  async removeConversationMember(conversationId: string, agentId: string): Promise<boolean> {
    return (await changes(this.pool, 'DELETE FROM conversation_members WHERE conversation_id = $1 AND agent_id = $2', [conversationId, agentId])) > 0
  }

  async conversationMembers(conversationId: string): Promise<string[]> {
    return (await rows<{ agent_id: string }>(this.pool,
      'SELECT agent_id FROM conversation_members WHERE conversation_id = $1 ORDER BY joined_at, agent_id', [conversationId])).map((r) => r.agent_id)
  }

  async message(workspaceId: string, id: string): Promise<MessageRow | undefined> {
    const r = await one(this.pool, `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE workspace_id = $1 AND id = $2`, [workspaceId, id])
    return r && toMessage(r)
  }

  async deliveriesForMessage(messageId: string): Promise<DeliveryRow[]> {
    return (await rows(this.pool, 'SELECT * FROM deliveries WHERE message_id = $1 ORDER BY agent_id', [messageId])).map(toDelivery)
  }

  async failuresForMessage(messageId: string): Promise<DeliveryFailureRow[]> {
    return (await rows(this.pool, 'SELECT * FROM delivery_failures WHERE message_id = $1 ORDER BY created_at', [messageId])).map(toFailure)
  }

  async conversation(workspaceId: string, id: string): Promise<ConversationRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM conversations WHERE workspace_id = $1 AND id = $2', [workspaceId, id])
    return r && toConversation(r)
  }

  async conversationsFor(agentId: string): Promise<ConversationRow[]> {
    return (await rows(this.pool,
      `SELECT c.* FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
       WHERE m.agent_id = $1 ORDER BY c.created_at DESC`, [agentId])).map(toConversation)
  }

  private async page(column: 'channel_id' | 'conversation_id', key: string, limit: number, before?: string): Promise<MessageRow[]> {
    // Top-level messages only; thread replies are read through /messages/:id/replies.
    // `pos` is the insertion order (SQLite's rowid); an unknown `before` id gives no rows, as there.
    const rs = await rows(this.pool,
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE ${column} = $1 AND thread_id IS NULL
         AND ($2::text IS NULL OR pos < (SELECT pos FROM messages WHERE id = $2::text))
       ORDER BY pos DESC LIMIT $3`, [key, before ?? null, limit])
    // Newest page first in SQL, oldest first in the answer (chat order).
    return rs.map(toMessage).reverse()
  }

  conversationMessages(conversationId: string, limit: number, before?: string): Promise<MessageRow[]> {
    return this.page('conversation_id', conversationId, limit, before)
  }

  channelMessages(channelId: string, limit: number, before?: string): Promise<MessageRow[]> {
    return this.page('channel_id', channelId, limit, before)
  }

  async replies(parentId: string, limit: number): Promise<MessageRow[]> {
    return (await rows(this.pool, `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE thread_id = $1 ORDER BY pos LIMIT $2`, [parentId, limit])).map(toMessage)
  }

  async replyCount(parentId: string): Promise<number> {
    return Number((await one<{ n: number }>(this.pool, 'SELECT COUNT(*) AS n FROM messages WHERE thread_id = $1', [parentId]))?.n ?? 0)
  }

  async pendingFor(agentId: string, now: number, includeDelivered: boolean): Promise<DeliveryRow[]> {
    const statuses = includeDelivered ? "('queued', 'delivered')" : "('queued')"
    return (await rows(this.pool,
      `SELECT d.* FROM deliveries d JOIN agents a ON a.id = d.agent_id
       WHERE d.agent_id = $1 AND d.status IN ${statuses} AND d.seq > a.delivery_ack_seq AND d.expires_at > $2
       ORDER BY d.seq`, [agentId, now])).map(toDelivery)
  }

  async pendingMail(agentId: string, now: number, afterSeq: number, includeDelivered: boolean, limit: number): Promise<MailItem[]> {
    const statuses = includeDelivered ? "('queued', 'delivered')" : "('queued')"
    const rs = await rows(this.pool,
      `SELECT d.*, m.agent_id AS m_agent_id, m.channel_id AS m_channel_id, m.conversation_id AS m_conversation_id, m.text AS m_text,
              m.mode AS m_mode, m.attachments AS m_attachments, m.thread_id AS m_thread_id, m.created_at AS m_created_at,
              s.name AS sender_name, c.name AS channel_name, cv.kind AS conversation_kind
       FROM deliveries d
       JOIN agents a ON a.id = d.agent_id
       JOIN messages m ON m.id = d.message_id
       LEFT JOIN agents s ON s.id = m.agent_id
       LEFT JOIN channels c ON c.id = m.channel_id
       LEFT JOIN conversations cv ON cv.id = m.conversation_id
       WHERE d.agent_id = $1 AND d.seq > GREATEST(a.delivery_ack_seq, $2) AND d.status IN ${statuses} AND d.expires_at > $3
       ORDER BY d.seq LIMIT $4`, [agentId, afterSeq, now, limit])
    return rs.map((r: Raw): MailItem => ({
      delivery: toDelivery(r),
      message: toMessage({
        id: r.message_id, workspace_id: r.workspace_id, agent_id: r.m_agent_id, channel_id: r.m_channel_id,
        conversation_id: r.m_conversation_id, text: r.m_text, mode: r.m_mode, attachments: r.m_attachments,
        thread_id: r.m_thread_id, created_at: r.m_created_at,
      }),
      senderName: r.sender_name === null || r.sender_name === undefined ? 'unknown' : String(r.sender_name),
      channelName: r.channel_name === null || r.channel_name === undefined ? null : String(r.channel_name),
      conversationKind: r.conversation_kind === 'group' ? 'group' : r.conversation_kind === 'dm' ? 'dm' : null,
    }))
  }

  async agentsWithQueued(now: number): Promise<string[]> {
    return (await rows<{ agent_id: string }>(this.pool,
      "SELECT DISTINCT agent_id FROM deliveries WHERE status = 'queued' AND expires_at > $1", [now])).map((r) => r.agent_id)
  }

  async agentsWithUnackedDelivered(deliveredBefore: number, now: number): Promise<string[]> {
    return (await rows<{ agent_id: string }>(this.pool,
      "SELECT DISTINCT agent_id FROM deliveries WHERE status = 'delivered' AND delivered_at < $1 AND expires_at > $2", [deliveredBefore, now]))
      .map((r) => r.agent_id)
  }

  async markDelivered(id: string, at: number): Promise<boolean> {
    return (await changes(this.pool, "UPDATE deliveries SET status = 'delivered', delivered_at = $1 WHERE id = $2 AND status = 'queued'", [at, id])) > 0
  }

  ackUpTo(agentId: string, upToSeq: number, at: number): Promise<DeliveryRow[]> {
    return tx(this.pool, (c) => ackRows(c, agentId, upToSeq, at))
  }

  compactCursor(agentId: string): Promise<number> {
    return tx(this.pool, async (c): Promise<number> => {
      const agent = await one<{ delivery_seq: number; delivery_ack_seq: number }>(c,
        'SELECT delivery_seq, delivery_ack_seq FROM agents WHERE id = $1 FOR NO KEY UPDATE', [agentId])
      if (!agent) return 0
      const ackSeq = Number(agent.delivery_ack_seq)
      const open = await one<{ s: number | null }>(c,
        "SELECT MIN(seq) AS s FROM deliveries WHERE agent_id = $1 AND seq > $2 AND status NOT IN ('acked', 'dead_lettered')", [agentId, ackSeq])
      const target = open?.s === null || open?.s === undefined ? Number(agent.delivery_seq) : Number(open.s) - 1
      if (target > ackSeq) {
        await c.query('UPDATE agents SET delivery_ack_seq = $1 WHERE id = $2 AND delivery_ack_seq < $1', [target, agentId])
        return target
      }
      return ackSeq
    })
  }

  async expire(now: number): Promise<DeliveryRow[]> {
    // Many rows in one statement: it can meet another multi-row writer in a deadlock, so it is re-run then.
    return retrying(async () => (await rows(this.pool,
      `UPDATE deliveries SET status = 'dead_lettered', dead_lettered_at = $1, reason = 'ttl_expired'
       WHERE status IN ('queued', 'delivered', 'failed') AND expires_at <= $1 RETURNING *`, [now])).map(toDelivery))
  }

  markRead(messageId: string, agentId: string, at: number): Promise<DeliveryRow | undefined> {
    return tx(this.pool, async (c): Promise<DeliveryRow | undefined> => {
      const r = await one(c,
        `UPDATE deliveries SET status = 'acked', acked_at = $1
         WHERE message_id = $2 AND agent_id = $3 AND status IN ('queued', 'delivered', 'failed') RETURNING *`, [at, messageId, agentId])
      await c.query('INSERT INTO message_reads (message_id, agent_id, read_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [messageId, agentId, at])
      return r && toDelivery(r)
    })
  }

  async readers(messageId: string): Promise<Array<{ agentId: string; readAt: number }>> {
    return (await rows<{ agent_id: string; read_at: number }>(this.pool,
      'SELECT agent_id, read_at FROM message_reads WHERE message_id = $1 ORDER BY read_at, agent_id', [messageId]))
      .map((r) => ({ agentId: r.agent_id, readAt: Number(r.read_at) }))
  }

  async search(q: SearchQuery): Promise<MessageRow[]> {
    const terms = searchTerms(q.q)
    if (terms.length === 0) return []
    // Each word is a phrase query of its own ("foo_bar" → foo <-> bar), all of them ANDed,
    // as the SQLite store's quoted FTS5 terms; no user text ever reaches tsquery syntax.
    const query = terms.map((_, i) => `phraseto_tsquery('relay_search', $${6 + i})`).join(' && ')
    const rs = await rows(this.pool,
      `SELECT ${M} FROM messages m
       WHERE m.search_vector @@ (${query}) AND m.workspace_id = $1
         AND ($2::text IS NULL OR m.channel_id = $2::text)
         AND ($3::text IS NULL OR m.agent_id = $3::text)
         AND ($4::text IS NULL OR m.channel_id IS NOT NULL
              OR m.conversation_id IN (SELECT conversation_id FROM conversation_members WHERE agent_id = $4::text))
       ORDER BY m.pos DESC LIMIT $5`,
      [q.workspaceId, q.channelId ?? null, q.fromId ?? null, q.viewerId ?? null, q.limit, ...terms])
    return rs.map(toMessage)
  }

  async delivery(workspaceId: string, id: string): Promise<DeliveryRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM deliveries WHERE workspace_id = $1 AND id = $2', [workspaceId, id])
    return r && toDelivery(r)
  }

  async deliveriesFor(agentId: string, statuses: readonly string[], limit: number, now: number, afterSeq = 0): Promise<DeliveryRow[]> {
    const wanted = statuses.filter((s) => (STATUSES as readonly string[]).includes(s))
    if (wanted.length === 0) return []
    const liveOnly = wanted.every((s) => s === 'queued' || s === 'delivered')
    return (await rows(this.pool,
      `SELECT * FROM deliveries WHERE agent_id = $1 AND seq > $2 AND status = ANY($3::text[]) AND (NOT $4::boolean OR expires_at > $5)
       ORDER BY seq LIMIT $6`, [agentId, afterSeq, wanted, liveOnly, now, limit])).map(toDelivery)
  }

  async ackOne(id: string, at: number): Promise<DeliveryRow | undefined> {
    // One statement: the guarded flip and its read receipt commit together.
    const r = await one(this.pool,
      `WITH d AS (
         UPDATE deliveries SET status = 'acked', acked_at = $1 WHERE id = $2 AND status IN ('queued', 'delivered', 'failed') RETURNING *
       ), r AS (
         INSERT INTO message_reads (message_id, agent_id, read_at) SELECT message_id, agent_id, $1 FROM d ON CONFLICT DO NOTHING
       )
       SELECT * FROM d`, [at, id])
    return r && toDelivery(r)
  }

  async failOne(id: string, at: number, reason: string): Promise<DeliveryRow | undefined> {
    const r = await one(this.pool,
      "UPDATE deliveries SET status = 'failed', failed_at = $1, reason = $2 WHERE id = $3 AND status IN ('queued', 'delivered') RETURNING *", [at, reason, id])
    return r && toDelivery(r)
  }

  async deferOne(id: string): Promise<DeliveryRow | undefined> {
    const r = await one(this.pool, "UPDATE deliveries SET status = 'queued' WHERE id = $1 AND status IN ('delivered', 'failed') RETURNING *", [id])
    return r && toDelivery(r)
  }

  async deliveriesAfter(agentId: string, afterSeq: number, limit: number): Promise<DeliveryRow[]> {
    return (await rows(this.pool,
      "SELECT * FROM deliveries WHERE agent_id = $1 AND seq > $2 AND status != 'dead_lettered' ORDER BY seq LIMIT $3", [agentId, afterSeq, limit]))
      .map(toDelivery)
  }

  async inbox(agentId: string): Promise<InboxRow> {
    const channels = await rows<{ channel_name: string; n: number }>(this.pool,
      `SELECT c.name AS channel_name, COUNT(*) AS n FROM deliveries d
       JOIN messages m ON m.id = d.message_id JOIN channels c ON c.id = m.channel_id
       WHERE d.agent_id = $1 AND d.status IN ('queued', 'delivered', 'failed')
       GROUP BY c.id ORDER BY c.name`, [agentId])
    const dms = await rows<{ conversation_id: string; n: number; last_pos: number }>(this.pool,
      `SELECT m.conversation_id AS conversation_id, COUNT(*) AS n, MAX(m.pos) AS last_pos FROM deliveries d
       JOIN messages m ON m.id = d.message_id
       WHERE d.agent_id = $1 AND m.conversation_id IS NOT NULL AND d.status IN ('queued', 'delivered', 'failed')
       GROUP BY m.conversation_id ORDER BY last_pos DESC`, [agentId])
    const last = new Map<number, Record<string, unknown>>()
    if (dms.length) {
      const rs = await rows(this.pool,
        `SELECT m.pos, ${M}, a.name AS from_name FROM messages m JOIN agents a ON a.id = m.agent_id WHERE m.pos = ANY($1::bigint[])`,
        [dms.map((r) => r.last_pos)])
      for (const r of rs) last.set(Number(r.pos), r)
    }
    return {
      unreadChannels: channels.map((r) => ({ channelName: r.channel_name, unreadCount: Number(r.n) })),
      unreadDms: dms.map((r) => {
        const m = last.get(Number(r.last_pos))
        if (!m) throw new Error(`message at ${r.last_pos} vanished`)
        return { conversationId: r.conversation_id, fromName: String(m.from_name), unreadCount: Number(r.n), lastMessage: toMessage(m) }
      }),
    }
  }
}
