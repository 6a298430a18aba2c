/** Channels: create/list, membership, posting with fan-out delivery. */
import { Hono } from 'hono'
import { z } from 'zod'
import type { EngineContext } from '../context'
import { parseBody, parseLimit } from '../http/body'
import { requireAgent, requireReader, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { idempotentMessageId, newId, newMessageId } from '../ids'
import type { ChannelRow } from '../store/types'
import { channelView, iso, messageView } from '../views'

const channelName = z
  .string()
  .trim()
  .transform((n) => n.replace(/^#/, ''))
  .pipe(z.string().min(1).max(80).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only'))

const createChannelSchema = z.object({ name: channelName, topic: z.string().max(500).optional() })

const postSchema = z.object({
  text: z.string().min(1),
  mode: z.enum(['wait', 'steer']).optional(),
  attachments: z.array(z.unknown()).optional(),
})

export function channelRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  const channelByName = async (workspaceId: string, raw: string): Promise<ChannelRow> => {
    const ch = await store.channels.byName(workspaceId, raw.replace(/^#/, ''))
    if (!ch) throw notFound('channel')
    return ch
  }

  app.post('/channels', async (c) => {
    const { workspace, agent } = requireReader(c)
    const body = await parseBody(c, createChannelSchema)
    if (await store.channels.byName(workspace.id, body.name)) throw new ApiError(409, 'channel_already_exists', `channel "${body.name}" already exists`)
    const ch: ChannelRow = { id: newId('ch_'), workspaceId: workspace.id, name: body.name, topic: body.topic ?? null, createdAt: ctx.config.now() }
    await store.channels.insert(ch)
    if (agent) await store.channels.join(ch.id, agent.id, ch.createdAt)
    return ok(c, channelView(ch), 201)
  })

  app.get('/channels', async (c) => {
    const { workspace } = requireReader(c)
    return ok(c, (await store.channels.list(workspace.id)).map((ch) => channelView(ch, ch.memberCount)))
  })

  app.get('/channels/:name', async (c) => {
    const { workspace } = requireReader(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    return ok(c, channelView(ch, (await store.channels.members(ch.id)).length))
  })

  app.post('/channels/:name/join', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    const joined = await store.channels.join(ch.id, agent.id, ctx.config.now())
    return ok(c, { channel: ch.name, agent_name: agent.name, joined, already_member: !joined })
  })

  app.post('/channels/:name/leave', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    return ok(c, { channel: ch.name, agent_name: agent.name, left: await store.channels.leave(ch.id, agent.id) })
  })

  app.get('/channels/:name/members', async (c) => {
    const { workspace } = requireReader(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    return ok(c, (await store.channels.members(ch.id)).map((m) => ({ agent_id: m.agent.id, agent_name: m.agent.name, joined_at: iso(m.joinedAt) })))
  })

  app.post('/channels/:name/messages', async (c) => {
    const { workspace, agent } = requireAgent(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    const body = await parseBody(c, postSchema)
    const key = c.req.header('idempotency-key')
    if (key && key.length > 200) throw new ApiError(400, 'invalid_request', 'Idempotency-Key: at most 200 characters')
    const messageId = key ? idempotentMessageId(workspace.id, agent.id, key) : newMessageId()
    const existing = key ? await store.mail.message(workspace.id, messageId) : undefined
    if (existing) return ok(c, { ...messageView(existing, agent.name, { channel_name: ch.name }), replayed: true })
    const result = await ctx.router.post({
      kind: 'channel', workspaceId: workspace.id, from: agent, channel: ch, messageId, text: body.text,
      mode: body.mode ?? 'wait', attachments: body.attachments ?? [], now: ctx.config.now(),
      ttlMs: ctx.config.mailboxTtlMs, maxInFlight: ctx.config.maxInFlightPerAgent,
    })
    if (result.status === 'failed') throw result.error
    if (result.status !== 'posted') {
      // The same Idempotency-Key posted earlier in the same group commit.
      const first = await store.mail.message(workspace.id, messageId)
      if (!first) throw new ApiError(500, 'internal_error', `unexpected post outcome ${result.status}`)
      return ok(c, { ...messageView(first, agent.name, { channel_name: ch.name }), replayed: true })
    }
    if (result.rejected.length) ctx.log('warn', 'channel fan-out hit mailbox cap', { channel: ch.name, rejected: result.rejected })
    return ok(c, { ...messageView(result.message, agent.name, { channel_name: ch.name }), rejected_recipients: result.rejected }, 201)
  })

  app.get('/channels/:name/messages', async (c) => {
    const { workspace } = requireReader(c)
    const ch = (await channelByName(workspace.id, c.req.param('name')))
    const messages = await store.mail.channelMessages(ch.id, parseLimit(c), c.req.query('before'))
    const names = new Map<string, string>()
    const nameOf = async (id: string) => {
      if (!names.has(id)) names.set(id, (await store.agents.get(id))?.name ?? 'unknown')
      return names.get(id) ?? 'unknown'
    }
    return ok(c, await Promise.all(messages.map(async (m) => messageView(m, await nameOf(m.agentId), { channel_name: ch.name, reply_count: await store.mail.replyCount(m.id) }))))
  })

  return app
}
