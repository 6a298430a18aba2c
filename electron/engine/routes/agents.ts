/** Agent identities: create, rotate, read, who-am-I, release. */
import { Hono } from 'hono'
import { z } from 'zod'
import type { EngineContext } from '../context'
import { parseBody } from '../http/body'
import { requireAgent, requireReader, requireWorkspaceKey, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { hashToken, newId, newToken } from '../ids'
import type { AgentRow, WorkspaceRow } from '../store/types'
import { agentView, iso } from '../views'

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

const releaseSchema = z.object({
  name: z.string().trim().min(1),
  reason: z.string().optional(),
  delete_agent: z.boolean().optional(),
})

export function agentRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  const nodeName = (agent: AgentRow): string | undefined => (agent.nodeId ? store.nodes.get(agent.nodeId)?.name : undefined)
  const withToken = (agent: AgentRow, token: string) => ({
    id: agent.id, name: agent.name, token, status: 'active', created_at: iso(agent.createdAt), workspace_id: agent.workspaceId, type: agent.type,
  })
  const detailed = (agent: AgentRow) => ({
    ...agentView(agent, nodeName(agent)),
    pending_deliveries: store.agents.pendingCount(agent.id, ctx.config.now()),
  })
  const agentByName = (ws: WorkspaceRow, name: string): AgentRow => {
    const agent = store.agents.byName(ws.id, name)
    if (!agent) throw notFound('agent')
    return agent
  }

  app.post('/agents', async (c) => {
    const ws = requireWorkspaceKey(c)
    const body = await parseBody(c, createAgentSchema)
    if (store.agents.byName(ws.id, body.name)) throw new ApiError(409, 'agent_already_exists', `agent "${body.name}" already exists`)
    const token = newToken('agent')
    const agent: AgentRow = {
      id: newId('agt_'), workspaceId: ws.id, name: body.name, type: body.type ?? 'agent', status: 'active',
      metadata: body.metadata ?? {}, nodeId: null, deliverySeq: 0, deliveryAckSeq: 0, createdAt: ctx.config.now(),
    }
    store.agents.insert(agent, hashToken(token))
    return ok(c, withToken(agent, token), 201)
  })

  app.post('/agents/release', async (c) => {
    const { workspace } = requireReader(c)
    const body = await parseBody(c, releaseSchema)
    const agent = agentByName(workspace, body.name)
    const nodeId = agent.nodeId
    store.agents.bind(agent.id, null, 'offline')
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

  app.post('/agents/:name/rotate-token', (c) => {
    const ws = requireWorkspaceKey(c)
    const agent = agentByName(ws, c.req.param('name'))
    const token = newToken('agent')
    store.agents.setToken(agent.id, hashToken(token))
    return ok(c, withToken(agent, token))
  })

  app.get('/agents', (c) => {
    const { workspace } = requireReader(c)
    const status = c.req.query('status')
    const agents = store.agents.list(workspace.id).filter((a) => !status || a.status === status)
    return ok(c, agents.map(detailed))
  })

  app.get('/agents/:name', (c) => {
    const { workspace } = requireReader(c)
    return ok(c, detailed(agentByName(workspace, c.req.param('name'))))
  })

  app.get('/agent', (c) => {
    const { agent } = requireAgent(c)
    return ok(c, detailed(agent))
  })

  return app
}
