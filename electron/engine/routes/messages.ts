/**
 * DMs and group DMs, threads, message lookup + delivery lifecycle, read state,
 * the caller's inbox, search (FTS5) and the agent-facing delivery queue.
 */
import { Hono } from 'hono'
import { z } from 'zod'
import { dmRequestSchema } from '../../../shared/wire'
import type { EngineContext } from '../context'
import { parseBody, parseLimit } from '../http/body'
import { requireAgent, requireReader, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { idempotentMessageId, newId, newMessageId } from '../ids'
import type { AgentRow, ConversationRow, DeliveryRow, MessageRow, PostInput, PostOutcome, WorkspaceRow } from '../store/types'
import { deliveryView, iso, messageView } from '../views'

const postSchema = z.object({
  text: z.string().min(1),
  mode: z.enum(['wait', 'steer']).optional(),
  attachments: z.array(z.unknown()).optional(),
})

const groupSchema = z.object({
  participants: z.array(z.string().trim().min(1)).min(1).max(100),
  name: z.string().trim().max(200).optional(),
  text: z.string().min(1).optional(),
})

const participantSchema = z.object({ agent_name: z.string().trim().min(1) })
const failSchema = z.object({ reason: z.string().max(500).optional() })

export function messageRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  type NameOf = (id: string) => Promise<string>
  const nameCache = (): NameOf => {
    const names = new Map<string, string>()
    return async (id: string): Promise<string> => {
      let n = names.get(id)
      if (n === undefined) {
        n = (await store.agents.get(id))?.name ?? 'unknown'
        names.set(id, n)
      }
      return n
    }
  }

  const agentNamed = async (ws: WorkspaceRow, raw: string): Promise<AgentRow> => {
    const agent = await store.agents.byName(ws.id, raw.replace(/^@/, ''))
    if (!agent) throw new ApiError(404, 'agent_not_found', `agent "${raw}" not found`)
    return agent
  }

  /** Full view of a message: channel name, reply count. */
  const fullView = async (m: MessageRow, nameOf: NameOf) => {
    const extra: Record<string, unknown> = { reply_count: await store.mail.replyCount(m.id) }
    if (m.channelId) extra.channel_name = (await store.channels.get(m.channelId))?.name ?? null
    return messageView(m, await nameOf(m.agentId), extra)
  }

  /** Idempotency-Key → a derived message id and the message if it was already written. */
  const idempotency = async (c: { req: { header(name: string): string | undefined } }, ws: WorkspaceRow, sender: AgentRow) => {
    const key = c.req.header('idempotency-key')
    if (!key) return { id: newMessageId(), existing: undefined }
    if (key.length > 200) throw new ApiError(400, 'invalid_request', 'Idempotency-Key: at most 200 characters')
    const id = idempotentMessageId(ws.id, sender.id, key)
    return { id, existing: await store.mail.message(ws.id, id) }
  }

  /** Who may read a message: any workspace member for channels, participants for DMs. */
  const canRead = async (m: MessageRow, agent: AgentRow | undefined): Promise<boolean> =>
    !agent || !m.conversationId || (await store.mail.conversationMembers(m.conversationId)).includes(agent.id)

  const readableMessage = async (ws: WorkspaceRow, agent: AgentRow | undefined, id: string): Promise<MessageRow> => {
    const m = await store.mail.message(ws.id, id)
    if (!m || !(await canRead(m, agent))) throw notFound('message')
    return m
  }

  /**
   * A group-committed post's outcome for a route: the committed post, 'mailbox_full', or
   * `{replayed}` when the same Idempotency-Key was posted earlier in the same commit.
   */
  const committed = async (outcome: PostOutcome, ws: WorkspaceRow, messageId: string) => {
    if (outcome.status === 'failed') throw outcome.error
    if (outcome.status === 'mailbox_full') return 'mailbox_full' as const
    if (outcome.status === 'duplicate') {
      const existing = await store.mail.message(ws.id, messageId)
      if (!existing) throw new ApiError(409, 'conflict', 'message id already taken')
      return { replayed: existing }
    }
    return outcome
  }

  app.post('/dm', async (c) => {
    const { workspace, agent: sender } = requireAgent(c)
    const body = await parseBody(c, dmRequestSchema)
    const to = (await agentNamed(workspace, body.to))
    if (to.id === sender.id) throw new ApiError(400, 'cannot_dm_self', 'cannot send a DM to yourself')
    const idem = (await idempotency(c, workspace, sender))
    const replay = async (m: MessageRow) => {
      const d = (await store.mail.deliveriesForMessage(m.id))[0]
      return ok(c, {
        id: m.id, conversation_id: m.conversationId,
        message: { id: m.id, agent_id: sender.id, agent_name: sender.name, text: m.text, injection_mode: m.mode, attachments: m.attachments },
        created_at: iso(m.createdAt), delivery: d ? { id: d.id, seq: d.seq, status: d.status } : null, replayed: true,
      })
    }
    if (idem.existing) return replay(idem.existing)
    const result = (await committed(await ctx.router.post({
      kind: 'dm', workspaceId: workspace.id, from: sender, to, conversationId: newId('conv_'), messageId: idem.id,
      text: body.text, mode: body.mode ?? 'wait', attachments: body.attachments ?? [], now: ctx.config.now(),
      ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
    }), workspace, idem.id))
    if (result === 'mailbox_full') {
      throw new ApiError(429, 'mailbox_full', `mailbox of "${to.name}" is full (${ctx.config.maxInFlightPerAgent} messages in flight); retry after it acks`)
    }
    if ('replayed' in result) return replay(result.replayed)
    const m = result.message
    const delivery = result.deliveries[0] as DeliveryRow
    return ok(c, {
      id: m.id,
      conversation_id: result.conversation?.id ?? m.conversationId,
      message: { id: m.id, agent_id: sender.id, agent_name: sender.name, text: m.text, injection_mode: m.mode, attachments: m.attachments },
      created_at: iso(m.createdAt),
      delivery: { id: delivery.id, seq: delivery.seq, status: delivery.status },
    }, 201)
  })

  const conversationView = async (conv: ConversationRow, nameOf: NameOf) => ({
    id: conv.id,
    conversation_id: conv.id,
    type: conv.kind,
    name: conv.name,
    participants: await Promise.all((await store.mail.conversationMembers(conv.id)).map(async (id) => ({ agent_id: id, agent_name: await nameOf(id) }))),
    created_at: iso(conv.createdAt),
  })

  app.get('/dm/conversations', async (c) => {
    const { agent } = requireAgent(c)
    const nameOf = nameCache()
    return ok(c, await Promise.all((await store.mail.conversationsFor(agent.id)).map((conv) => conversationView(conv, nameOf))))
  })

  app.post('/dm/group', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const body = await parseBody(c, groupSchema)
    const members = new Map<string, AgentRow>([[agent.id, agent]])
    for (const n of body.participants) {
      const a = (await agentNamed(workspace, n))
      members.set(a.id, a)
    }
    if (members.size < 2) throw new ApiError(400, 'invalid_request', 'participants: a group needs someone besides you')
    const conv: ConversationRow = {
      id: newId('conv_'), workspaceId: workspace.id, kind: 'group', name: body.name ?? null, agentA: '', agentB: '', createdAt: ctx.config.now(),
    }
    await store.mail.createGroup(conv, [...members.keys()])
    const nameOf = nameCache()
    const view: Record<string, unknown> = (await conversationView(conv, nameOf))
    if (body.text) {
      const messageId = newMessageId()
      const result = (await committed(await ctx.router.post({
        kind: 'conversation', workspaceId: workspace.id, from: agent, conversation: conv, messageId, text: body.text, mode: 'wait',
        attachments: [], now: ctx.config.now(), ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
      }), workspace, messageId))
      if (result !== 'mailbox_full') view.message = (await fullView('replayed' in result ? result.replayed : result.message, nameOf))
    }
    return ok(c, view, 201)
  })

  const memberConversation = async (ws: WorkspaceRow, agent: AgentRow, id: string): Promise<ConversationRow> => {
    const conv = await store.mail.conversation(ws.id, id)
    if (!conv) throw notFound('conversation')
    if (!(await store.mail.conversationMembers(conv.id)).includes(agent.id)) throw new ApiError(403, 'not_participant', 'not a participant of this conversation')
    return conv
  }

  app.post('/dm/:conversation_id/messages', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const conv = (await memberConversation(workspace, agent, c.req.param('conversation_id')))
    const body = await parseBody(c, postSchema)
    const idem = (await idempotency(c, workspace, agent))
    if (idem.existing) return ok(c, { ...(await fullView(idem.existing, nameCache())), replayed: true })
    const result = (await committed(await ctx.router.post({
      kind: 'conversation', workspaceId: workspace.id, from: agent, conversation: conv, messageId: idem.id, text: body.text, mode: body.mode ?? 'wait',
      attachments: body.attachments ?? [], now: ctx.config.now(), ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
    }), workspace, idem.id))
    if (result === 'mailbox_full') throw new ApiError(500, 'internal_error', 'unexpected mailbox_full')
    if ('replayed' in result) return ok(c, { ...(await fullView(result.replayed, nameCache())), replayed: true })
    const m = result.message
    // The DM send shape (conversation_id, message{…}, created_at) plus the flat message fields.
    return ok(c, {
      ...(await fullView(m, nameCache())),
      message: { id: m.id, agent_id: agent.id, agent_name: agent.name, text: m.text, injection_mode: m.mode, attachments: m.attachments },
      rejected_recipients: result.rejected,
    }, 201)
  })

  app.get('/dm/:conversation_id/messages', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const conv = (await memberConversation(workspace, agent, c.req.param('conversation_id')))
    const nameOf = nameCache()
    const messages = await store.mail.conversationMessages(conv.id, parseLimit(c), c.req.query('before'))
    return ok(c, await Promise.all(messages.map((m) => fullView(m, nameOf))))
  })

  app.post('/dm/:conversation_id/participants', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const conv = (await memberConversation(workspace, agent, c.req.param('conversation_id')))
    if (conv.kind !== 'group') throw new ApiError(400, 'not_group', 'participants can only be changed on a group DM')
    const body = await parseBody(c, participantSchema)
    const added = (await agentNamed(workspace, body.agent_name))
    await store.mail.addConversationMember(conv.id, added.id, ctx.config.now())
    return ok(c, (await conversationView(conv, nameCache())))
  })

  app.delete('/dm/:conversation_id/participants/:agent', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const conv = (await memberConversation(workspace, agent, c.req.param('conversation_id')))
    if (conv.kind !== 'group') throw new ApiError(400, 'not_group', 'participants can only be changed on a group DM')
    const removed = (await agentNamed(workspace, c.req.param('agent')))
    await store.mail.removeConversationMember(conv.id, removed.id)
    return ok(c, (await conversationView(conv, nameCache())))
  })

  app.get('/messages/:id', async (c) => {
    const { workspace, agent } = requireReader(c)
    return ok(c, await fullView(await readableMessage(workspace, agent, c.req.param('id')), nameCache()))
  })

  app.post('/messages/:id/replies', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const parent = (await readableMessage(workspace, agent, c.req.param('id')))
    if (parent.threadId) throw new ApiError(400, 'invalid_request', 'reply to the thread root, not to a reply')
    const body = await parseBody(c, postSchema)
    const idem = (await idempotency(c, workspace, agent))
    if (idem.existing) return ok(c, { ...(await fullView(idem.existing, nameCache())), replayed: true })
    const common = {
      workspaceId: workspace.id, from: agent, threadId: parent.id, messageId: idem.id, text: body.text, mode: body.mode ?? 'wait',
      attachments: body.attachments ?? [], now: ctx.config.now(), ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
    } as const
    let input: PostInput
    if (parent.channelId) {
      const channel = await store.channels.get(parent.channelId)
      if (!channel) throw notFound('channel')
      input = { kind: 'channel', ...common, channel }
    } else {
      const conversation = parent.conversationId ? await store.mail.conversation(workspace.id, parent.conversationId) : undefined
      if (!conversation) throw notFound('conversation')
      input = { kind: 'conversation', ...common, conversation }
    }
    const result = (await committed(await ctx.router.post(input), workspace, idem.id))
    if (result === 'mailbox_full') throw new ApiError(500, 'internal_error', 'unexpected mailbox_full')
    if ('replayed' in result) return ok(c, { ...(await fullView(result.replayed, nameCache())), replayed: true })
    return ok(c, { ...(await fullView(result.message, nameCache())), rejected_recipients: result.rejected }, 201)
  })

  app.get('/messages/:id/replies', async (c) => {
    const { workspace, agent } = requireReader(c)
    const parent = (await readableMessage(workspace, agent, c.req.param('id')))
    const nameOf = nameCache()
    return ok(c, { parent: (await fullView(parent, nameOf)), replies: await Promise.all((await store.mail.replies(parent.id, parseLimit(c, 100, 1000))).map((m) => fullView(m, nameOf))) })
  })

  app.post('/messages/:id/read', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const m = (await readableMessage(workspace, agent, c.req.param('id')))
    const now = ctx.config.now()
    await ctx.router.flushWrites()
    const acked = await store.mail.markRead(m.id, agent.id, now)
    if (acked) ctx.router.changed([acked])
    return ok(c, { message_id: m.id, agent_name: agent.name, read_at: iso(now), delivery_acked: !!acked })
  })

  app.get('/messages/:id/readers', async (c) => {
    const { workspace, agent } = requireReader(c)
    const m = (await readableMessage(workspace, agent, c.req.param('id')))
    const nameOf = nameCache()
    return ok(c, await Promise.all((await store.mail.readers(m.id)).map(async (r) => ({ agent_id: r.agentId, agent_name: await nameOf(r.agentId), read_at: iso(r.readAt) }))))
  })

  app.get('/messages/:id/deliveries', async (c) => {
    const { workspace } = requireReader(c)
    const m = await store.mail.message(workspace.id, c.req.param('id'))
    if (!m) throw notFound('message')
    const nameOf = nameCache()
    const rows = await Promise.all((await store.mail.deliveriesForMessage(m.id)).map(async (d) => deliveryView(d, await nameOf(d.agentId))))
    // Depth-cap rejections never got a mailbox row; show them as dead letters so the sender sees them.
    const rejected = await Promise.all((await store.mail.failuresForMessage(m.id)).map(async (f) => ({
      id: f.id, agent_id: f.recipientId, agent_name: (await nameOf(f.recipientId)), seq: null, status: 'dead_lettered', mode: m.mode,
      delivered_at: null, acked_at: null, dead_lettered_at: iso(f.createdAt), failed_at: null, reason: f.reason,
      expires_at: null, created_at: iso(f.createdAt),
    })))
    return ok(c, [...rows, ...rejected])
  })

  app.get('/inbox', async (c) => {
    const { agent } = requireAgent(c)
    const inbox = await store.mail.inbox(agent.id)
    const nameOf = nameCache()
    return ok(c, {
      unread_channels: inbox.unreadChannels.map((u) => ({ channel_name: u.channelName, unread_count: u.unreadCount })),
      unread_dms: await Promise.all(inbox.unreadDms.map(async (u) => ({
        conversation_id: u.conversationId,
        from: u.fromName,
        unread_count: u.unreadCount,
        last_message: messageView(u.lastMessage, await nameOf(u.lastMessage.agentId)),
      }))),
      mentions: [],
    })
  })

  app.get('/search', async (c) => {
    const { workspace, agent } = requireReader(c)
    const q = c.req.query('q') ?? ''
    if (q.trim() === '') throw new ApiError(400, 'invalid_request', 'q: required')
    if (q.length > 500) throw new ApiError(400, 'invalid_request', 'q: at most 500 characters')
    const channelName = c.req.query('channel')
    const fromName = c.req.query('from')
    let channelId: string | undefined
    let fromId: string | undefined
    if (channelName) {
      const ch = await store.channels.byName(workspace.id, channelName.replace(/^#/, ''))
      if (!ch) return ok(c, [])
      channelId = ch.id
    }
    if (fromName) {
      const from = await store.agents.byName(workspace.id, fromName.replace(/^@/, ''))
      if (!from) return ok(c, [])
      fromId = from.id
    }
    const nameOf = nameCache()
    const hits = await store.mail.search({ workspaceId: workspace.id, q, channelId, fromId, viewerId: agent?.id, limit: parseLimit(c, 20, 100) })
    return ok(c, await Promise.all(hits.map((m) => fullView(m, nameOf))))
  })

  // Agent-facing delivery queue (engine.md §2.5): FIFO, with the message payload.
  app.get('/deliveries', async (c) => {
    const { agent } = requireAgent(c)
    const status = c.req.query('status')
    const statuses = status ? status.split(',') : ['queued', 'delivered']
    const nameOf = nameCache()
    const after = Number(c.req.query('after') ?? 0)
    if (!Number.isInteger(after) || after < 0) throw new ApiError(400, 'invalid_request', 'after: must be a non-negative integer (a seq)')
    const rows = await store.mail.deliveriesFor(agent.id, statuses, parseLimit(c, 50, 500), ctx.config.now(), after)
    return ok(c, await Promise.all(rows.map(async (d) => {
      const m = await store.mail.message(d.workspaceId, d.messageId)
      return { ...deliveryView(d, agent.name), message_id: d.messageId, message: m ? await fullView(m, nameOf) : null }
    })))
  })

  const ownDelivery = async (ws: WorkspaceRow, agent: AgentRow, id: string) => {
    // Its state may be waiting in the writer (a delivered mark, an ack): commit first.
    await ctx.router.flushWrites()
    const d = await store.mail.delivery(ws.id, id)
    if (!d || d.agentId !== agent.id) throw notFound('delivery')
    return d
  }

  app.post('/deliveries/:id/ack', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const d = (await ownDelivery(workspace, agent, c.req.param('id')))
    const moved = await store.mail.ackOne(d.id, ctx.config.now())
    if (moved) ctx.router.changed([moved])
    return ok(c, deliveryView(moved ?? d, agent.name))
  })

  app.post('/deliveries/:id/fail', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const d = (await ownDelivery(workspace, agent, c.req.param('id')))
    const body = await parseBody(c, failSchema)
    const moved = await store.mail.failOne(d.id, ctx.config.now(), body.reason ?? 'failed')
    if (moved) ctx.router.changed([moved])
    return ok(c, deliveryView(moved ?? d, agent.name))
  })

  app.post('/deliveries/:id/defer', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const d = (await ownDelivery(workspace, agent, c.req.param('id')))
    const moved = await store.mail.deferOne(d.id)
    if (moved) {
      ctx.router.changed([moved])
      await ctx.router.requeued(agent.id)
    }
    return ok(c, deliveryView(moved ?? d, agent.name))
  })

  return app
}
