/** DMs, message lookup + delivery lifecycle, and the caller's inbox. */
import { Hono } from 'hono'
import { dmRequestSchema } from '../../../shared/wire'
import type { EngineContext } from '../context'
import { parseBody, parseLimit } from '../http/body'
import { requireAgent, requireReader, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { newId } from '../ids'
import type { ConversationRow } from '../store/types'
import { deliveryView, iso, messageView } from '../views'

export function messageRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  const nameCache = () => {
    const names = new Map<string, string>()
    return (id: string): string => {
      let n = names.get(id)
      if (n === undefined) {
        n = store.agents.get(id)?.name ?? 'unknown'
        names.set(id, n)
      }
      return n
    }
  }

  app.post('/dm', async (c) => {
    const { workspace, agent: sender } = requireAgent(c)
    const body = await parseBody(c, dmRequestSchema)
    const to = store.agents.byName(workspace.id, body.to.replace(/^@/, ''))
    if (!to) throw notFound('agent')
    if (to.id === sender.id) throw new ApiError(400, 'cannot_dm_self', 'cannot send a DM to yourself')
    const result = store.mail.postDm({
      workspaceId: workspace.id, from: sender, to, conversationId: newId('conv_'), messageId: newId('msg_'),
      text: body.text, mode: body.mode ?? 'wait', attachments: body.attachments ?? [], now: ctx.config.now(),
      ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
    })
    if (!result.ok) throw new ApiError(429, 'mailbox_full', `mailbox of "${to.name}" is full`)
    ctx.router.notify([to.id])
    const m = result.message
    return ok(c, {
      conversation_id: result.conversation.id,
      message: { id: m.id, agent_id: sender.id, agent_name: sender.name, text: m.text, injection_mode: m.mode, attachments: m.attachments },
      created_at: iso(m.createdAt),
      delivery: { id: result.delivery.id, seq: result.delivery.seq, status: result.delivery.status },
    }, 201)
  })

  const conversationView = (conv: ConversationRow, nameOf: (id: string) => string) => ({
    id: conv.id,
    conversation_id: conv.id,
    participants: [conv.agentA, conv.agentB].map((id) => ({ agent_id: id, agent_name: nameOf(id) })),
    created_at: iso(conv.createdAt),
  })

  app.get('/dm/conversations', (c) => {
    const { agent } = requireAgent(c)
    const nameOf = nameCache()
    return ok(c, store.mail.conversationsFor(agent.id).map((conv) => conversationView(conv, nameOf)))
  })

  app.get('/dm/:conversation_id/messages', (c) => {
    const { workspace, agent } = requireAgent(c)
    const conv = store.mail.conversation(workspace.id, c.req.param('conversation_id'))
    if (!conv) throw notFound('conversation')
    if (conv.agentA !== agent.id && conv.agentB !== agent.id) throw new ApiError(403, 'not_participant', 'not a participant of this conversation')
    const nameOf = nameCache()
    const messages = store.mail.conversationMessages(conv.id, parseLimit(c), c.req.query('before'))
    return ok(c, messages.map((m) => messageView(m, nameOf(m.agentId))))
  })

  app.get('/messages/:id', (c) => {
    const { workspace } = requireReader(c)
    const m = store.mail.message(workspace.id, c.req.param('id'))
    if (!m) throw notFound('message')
    const channelName = m.channelId ? store.channels.get(m.channelId)?.name : undefined
    return ok(c, messageView(m, nameCache()(m.agentId), channelName ? { channel_name: channelName } : {}))
  })

  app.get('/messages/:id/deliveries', (c) => {
    const { workspace } = requireReader(c)
    const m = store.mail.message(workspace.id, c.req.param('id'))
    if (!m) throw notFound('message')
    const nameOf = nameCache()
    return ok(c, store.mail.deliveriesForMessage(m.id).map((d) => deliveryView(d, nameOf(d.agentId))))
  })

  app.get('/inbox', (c) => {
    const { agent } = requireAgent(c)
    const inbox = store.mail.inbox(agent.id)
    const nameOf = nameCache()
    return ok(c, {
      unread_channels: inbox.unreadChannels.map((u) => ({ channel_name: u.channelName, unread_count: u.unreadCount })),
      unread_dms: inbox.unreadDms.map((u) => ({
        conversation_id: u.conversationId,
        from: u.fromName,
        unread_count: u.unreadCount,
        last_message: messageView(u.lastMessage, nameOf(u.lastMessage.agentId)),
      })),
      mentions: [],
    })
  })

  return app
}
