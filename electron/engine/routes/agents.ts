/** Agent identities: create, rotate, read, who-am-I, release. */
import { Hono } from 'hono'
import { z } from 'zod'
import { invocationView } from '../actions/service'
import { AGENT_PRESENCE_TTL_MS, type EngineContext } from '../context'
import { parseBody } from '../http/body'
import { requireAgent, requireReader, requireWorkspaceKey, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { hashToken, newId, newToken } from '../ids'
import type { AgentRow, WorkspaceRow } from '../store/types'
import { agentView, isNodeLive, iso } from '../views'

export const agentNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(128)
  .refine((n) => !n.startsWith('#') && !/\s/.test(n), 'must not start with # or contain whitespace')

const createAgentSchema = z.object({
  name: agentNameSchema,
  type: z.enum(['agent', 'human', 'system']).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
})

const recoverSchema = z.object({
  expected_agent_id: z.string().min(1),
  recovery_proof: z.string().optional(),
  reason: z.string().optional(),
  session_ref: z.string().optional(),
  node_id: z.string().optional(),
})

const spawnSchema = z.object({
  name: agentNameSchema,
  cli: z.string().trim().min(1).max(128),
  task: z.string().max(100_000).optional(),
  channel: z.string().max(80).nullable().optional(),
  target_node: z.string().min(1).optional(),
  persona: z.string().nullable().optional(),
  model: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  invocation_id: z.string().min(1).max(200).optional(),
})

const releaseSchema = z.object({
  name: z.string().trim().min(1),
  reason: z.string().optional(),
  delete_agent: z.boolean().optional(),
})

export function agentRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  const nodeName = async (agent: AgentRow): Promise<string | undefined> => (agent.nodeId ? (await store.nodes.get(agent.nodeId))?.name : undefined)
  const nodeNameById = async (id: string | null): Promise<string | null> => (id ? (await store.nodes.get(id))?.name ?? null : null)
  const withToken = (agent: AgentRow, token: string) => ({
    id: agent.id, name: agent.name, token, status: 'active', created_at: iso(agent.createdAt), workspace_id: agent.workspaceId, type: agent.type,
  })
  const detailed = async (agent: AgentRow) => ({
    ...agentView(agent, (await nodeName(agent))),
    pending_deliveries: await store.agents.pendingCount(agent.id, ctx.config.now()),
    delivery_seq: agent.deliverySeq,
    delivery_ack_seq: agent.deliveryAckSeq,
  })
  const agentByName = async (ws: WorkspaceRow, name: string): Promise<AgentRow> => {
    const agent = await store.agents.byName(ws.id, name)
    if (!agent) throw notFound('agent')
    return agent
  }

  app.post('/agents', async (c) => {
    const ws = requireWorkspaceKey(c)
    const body = await parseBody(c, createAgentSchema)
    if (await store.agents.byName(ws.id, body.name)) throw new ApiError(409, 'agent_already_exists', `agent "${body.name}" already exists`)
    const token = newToken('agent')
    const now = ctx.config.now()
    const agent: AgentRow = {
      id: newId('agt_'), workspaceId: ws.id, name: body.name, type: body.type ?? 'agent', status: 'active',
      metadata: body.metadata ?? {}, nodeId: null, deliverySeq: 0, deliveryAckSeq: 0, originNodeId: null, lastSeenAt: null,
      wireSeqBase: 0, revokedAt: null, createdAt: now,
    }
    try {
      await store.agents.insert(agent, hashToken(token))
    } catch (err) {
      // Created by a concurrent request (here or on another engine instance) since the check above.
      if (await store.agents.byName(ws.id, body.name)) throw new ApiError(409, 'agent_already_exists', `agent "${body.name}" already exists`)
      throw err
    }
    return ok(c, withToken(agent, token), 201)
  })

  app.post('/agents/release', async (c) => {
    const { workspace } = requireReader(c)
    const body = await parseBody(c, releaseSchema)
    const agent = (await agentByName(workspace, body.name))
    const nodeId = agent.nodeId
    await store.agents.bind(agent.id, null, 'offline')
    if (nodeId) ctx.router.connection(nodeId)?.readyAgents.delete(agent.id)
    // The real broker decodes this as an action-invocation record.
    return ok(c, {
      invocation_id: newId('inv_'),
      action_name: 'release',
      handler_agent_id: agent.id,
      handler_node_id: nodeId,
      dispatched_node_id: nodeId,
      input: { name: agent.name, ...(body.reason !== undefined ? { reason: body.reason } : {}) },
      status: 'completed',
      created_at: iso(ctx.config.now()),
    })
  })

  app.post('/agents/spawn', async (c) => {
    const { workspace, agent: caller } = requireReader(c)
    const body = await parseBody(c, spawnSchema)
    const { invocation_id: explicitId, ...input } = body
    const key = c.req.header('idempotency-key') ?? explicitId
    const { row, created } = (await ctx.actions.invoke({ workspaceId: workspace.id, callerId: caller?.id ?? null, actionName: 'spawn', input, idempotencyKey: key }))
    return ok(c, await invocationView(row, nodeNameById), created ? 201 : 200)
  })

  /** Who is online in a workspace: agents (node liveness / recent calls / open clients), nodes, human users. */
  const presenceOf = async (workspace: WorkspaceRow) => {
    const now = ctx.config.now()
    const nodes = await store.nodes.list(workspace.id)
    const byId = new Map(nodes.map((n) => [n.id, n]))
    const users = (await ctx.hub.usersIn(workspace.id))
    const userConns = new Map(users.map((u) => [u.agentId, u.connections]))
    const agents = (await store.agents.list(workspace.id)).map((a) => {
      const node = a.nodeId ? byId.get(a.nodeId) : undefined
      // Node-hosted agents are online from node liveness alone; others from a client or a recent call.
      const online = node
        ? isNodeLive(node, now) && a.status === 'active'
        : (userConns.get(a.id) ?? 0) > 0 || (a.status === 'active' && a.lastSeenAt !== null && now - a.lastSeenAt <= AGENT_PRESENCE_TTL_MS)
      return {
        agent_id: a.id, agent_name: a.name, name: a.name, type: a.type, status: online ? 'online' : 'offline', node: node?.name ?? null,
        connections: userConns.get(a.id) ?? 0, last_seen_at: a.lastSeenAt === null ? null : iso(a.lastSeenAt),
      }
    })
    return {
      agents,
      nodes: nodes.map((n) => ({
        id: n.id, name: n.name, status: isNodeLive(n, now) ? 'online' : 'offline', live: isNodeLive(n, now),
        active_agents: n.activeAgents, load: n.load ?? 0,
      })),
      users: users.map((u) => ({ agent_id: u.agentId, name: u.name, connections: u.connections, connected_at: iso(u.connectedAt) })),
    }
  }

  // relaycast shape (the SDK types it as AgentPresenceInfo[]): one entry per agent, with
  // type, node and open-client count added; the whole picture is GET /v1/presence.
  app.get('/agents/presence', async (c) => {
    const { workspace } = requireReader(c)
    return ok(c, (await presenceOf(workspace)).agents)
  })

  app.get('/presence', async (c) => {
    const { workspace } = requireReader(c)
    return ok(c, (await presenceOf(workspace)))
  })

  app.post('/agents/heartbeat', async (c) => {
    const { agent } = requireAgent(c)
    const now = ctx.config.now()
    await store.agents.touch(agent.id, now)
    if (!agent.nodeId && agent.status !== 'active') await store.agents.setStatus(agent.id, 'active')
    return ok(c, { name: agent.name, status: 'online', last_seen_at: iso(now) })
  })

  app.post('/agents/disconnect', async (c) => {
    const { agent } = requireAgent(c)
    if (!agent.nodeId) await store.agents.setStatus(agent.id, 'offline')
    return ok(c, { name: agent.name, status: 'offline' })
  })

  app.post('/agents/:name/rotate-token', async (c) => {
    const ws = requireWorkspaceKey(c)
    const agent = (await agentByName(ws, c.req.param('name')))
    const token = newToken('agent')
    await store.agents.setToken(agent.id, hashToken(token))
    ctx.hub.closeAgent(agent.id, 'token_rotated')
    return ok(c, withToken(agent, token))
  })

  app.post('/agents/:name/revoke', async (c) => {
    const ws = requireWorkspaceKey(c)
    const agent = (await agentByName(ws, c.req.param('name')))
    const now = ctx.config.now()
    await store.agents.revoke(agent.id, now)
    ctx.hub.closeAgent(agent.id, 'token_revoked')
    ctx.log('info', 'agent token revoked', { agent_id: agent.id })
    return ok(c, { id: agent.id, name: agent.name, revoked: true, revoked_at: iso(now) })
  })

  // Reclaim an identity (the broker's HTTP path): the caller must know its id.
  app.post('/agents/:name/recover', async (c) => {
    const ws = requireWorkspaceKey(c)
    const agent = (await agentByName(ws, c.req.param('name')))
    const body = await parseBody(c, recoverSchema)
    if (body.expected_agent_id !== agent.id) throw new ApiError(409, 'agent_identity_mismatch', `agent "${agent.name}" has a different id`)
    if (body.node_id) {
      const node = await store.nodes.get(body.node_id)
      if (!node || node.workspaceId !== ws.id) throw notFound('node')
      if (agent.originNodeId && agent.originNodeId !== node.id) throw new ApiError(403, 'agent_recovery_not_authorized', 'agent was not created on this node')
    }
    const token = newToken('agent')
    await store.agents.setToken(agent.id, hashToken(token))
    ctx.hub.closeAgent(agent.id, 'token_rotated')
    return ok(c, withToken(agent, token))
  })

  app.get('/agents', async (c) => {
    const { workspace } = requireReader(c)
    const status = c.req.query('status')
    const agents = (await store.agents.list(workspace.id)).filter((a) => !status || a.status === status)
    return ok(c, await Promise.all(agents.map(detailed)))
  })

  app.get('/agents/:name', async (c) => {
    const { workspace } = requireReader(c)
    return ok(c, await detailed(await agentByName(workspace, c.req.param('name'))))
  })

  app.get('/agent', async (c) => {
    const { agent } = requireAgent(c)
    return ok(c, (await detailed(agent)))
  })

  return app
}
