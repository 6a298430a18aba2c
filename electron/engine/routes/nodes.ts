/** Node enrolment (token mint/rotation) and roster. */
import { Hono } from 'hono'
import { z } from 'zod'
import { createNodeRequestSchema } from '../../../shared/wire'
import type { EngineContext } from '../context'
import { parseBody } from '../http/body'
import { requireReader, requireWorkspaceKey, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'
import { deriveNodeId, hashToken, newToken } from '../ids'
import { capabilityKind } from '../node/handlers'
import type { NodeRow } from '../store/types'
import { agentView, iso, nodeView } from '../views'

const bindAgentSchema = z.object({ agent_name: z.string().trim().min(1), session_ref: z.string().optional(), priority: z.number().optional() })

export function nodeRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()

  const nodeByName = async (workspaceId: string, name: string): Promise<NodeRow> => {
    const node = await store.nodes.byName(workspaceId, name)
    if (!node) throw notFound('node')
    return node
  }

  /** Roster entry: the descriptor plus the agents bound to the node and held capacity. */
  const rosterView = async (n: NodeRow, now: number) => ({
    ...nodeView(n, now),
    reserved_agents: n.reservedAgents,
    agents: (await store.agents.listOnNode(n.id)).map((a) => ({ agent_id: a.id, name: a.name, status: a.status })),
  })

  app.post('/nodes', async (c) => {
    const ws = requireWorkspaceKey(c)
    const body = await parseBody(c, createNodeRequestSchema)
    const name = body.name.trim()
    if (name === '' || name.startsWith('#')) throw new ApiError(400, 'invalid_node_name', 'name must be non-empty and must not start with #')
    const kind = body.kind ?? 'ws'
    const role = body.role ?? 'broker'
    if (role === 'direct' && body.max_agents !== undefined && body.max_agents !== 1) {
      throw new ApiError(400, 'direct_node_capacity_exceeded', 'direct nodes must have max_agents 1')
    }
    // Resolve the row to rotate: by node_id, else by name, else by machine_id (brokers).
    let target: NodeRow | undefined
    if (body.node_id) {
      target = await store.nodes.get(body.node_id)
      if (target && target.workspaceId !== ws.id) throw new ApiError(409, 'node_id_conflict', 'node_id is enrolled in another workspace')
    } else {
      target = await store.nodes.byName(ws.id, name) ?? (body.machine_id && role === 'broker' ? await store.nodes.byMachineId(ws.id, body.machine_id) : undefined)
    }
    const id = target?.id ?? body.node_id ?? deriveNodeId(ws.id, name)
    if (!target) {
      const existing = await store.nodes.get(id)
      if (existing && existing.workspaceId !== ws.id) throw new ApiError(409, 'node_id_conflict', 'node_id is enrolled in another workspace')
      target = existing
    }
    const clash = await store.nodes.byName(ws.id, name)
    if (clash && clash.id !== id) throw new ApiError(409, 'node_name_conflict', `Node name "${name}" is already enrolled`)

    const token = newToken('node')
    const fields = {
      name, kind, role,
      version: body.version ?? target?.version ?? 'unknown',
      machineId: body.machine_id ?? target?.machineId ?? null,
      capabilities: body.capabilities ? body.capabilities.map((n) => ({ name: n, kind: capabilityKind(n) })) : target?.capabilities ?? [],
      tags: body.tags ?? target?.tags ?? [],
      maxAgents: body.max_agents ?? target?.maxAgents ?? (role === 'direct' ? 1 : 0),
      deliveryAdapter: body.delivery_adapter ?? target?.deliveryAdapter ?? (kind === 'ws' ? 'ws.node.v1' : null),
      tokenHash: hashToken(token),
    }
    if (target) {
      await store.nodes.reenrol(id, fields)
      // The old token is dead; so is any socket opened with it.
      ctx.router.connection(id)?.close('token_rotated')
    } else {
      await store.nodes.insert({ id, workspaceId: ws.id, createdAt: ctx.config.now(), ...fields })
    }
    const node = await store.nodes.get(id)
    if (!node) throw new Error('node vanished after enrolment')
    ctx.log('info', target ? 'node token rotated' : 'node enrolled', { node_id: id, name })
    return ok(c, { ...nodeView(node, ctx.config.now()), token }, 201)
  })

  app.get('/nodes', async (c) => {
    const { workspace } = requireReader(c)
    const capability = c.req.query('capability')
    const name = c.req.query('name')
    const now = ctx.config.now()
    const nodes = (await store.nodes
      .list(workspace.id))
      .filter((n) => (!capability || n.capabilities.some((cap) => cap.name === capability)) && (!name || n.name === name))
    return ok(c, await Promise.all(nodes.map((n) => rosterView(n, now))))
  })

  app.get('/nodes/:name', async (c) => {
    const { workspace } = requireReader(c)
    return ok(c, await rosterView(await nodeByName(workspace.id, c.req.param('name')), ctx.config.now()))
  })

  app.delete('/nodes/:name', async (c) => {
    const ws = requireWorkspaceKey(c)
    const node = (await nodeByName(ws.id, c.req.param('name')))
    ctx.router.connection(node.id)?.close('node_deleted')
    await ctx.actions.nodeLost(node.id)
    await store.nodes.delete(node.id)
    return ok(c, { id: node.id, name: node.name, deleted: true })
  })

  app.get('/nodes/:name/agents', async (c) => {
    const { workspace } = requireReader(c)
    const node = (await nodeByName(workspace.id, c.req.param('name')))
    return ok(c, (await store.agents.listOnNode(node.id)).map((a) => agentView(a, node.name)))
  })

  // HTTP fallback the broker uses when agent.register over the socket fails.
  app.post('/nodes/:name/agents', async (c) => {
    const ws = requireWorkspaceKey(c)
    const node = (await nodeByName(ws.id, c.req.param('name')))
    const body = await parseBody(c, bindAgentSchema)
    const agent = await store.agents.byName(ws.id, body.agent_name)
    if (!agent) throw notFound('agent')
    await store.agents.bind(agent.id, node.id, 'active')
    await ctx.router.replay([agent.id])
    const now = iso(ctx.config.now())
    return ok(c, {
      id: `bind_${node.id}_${agent.id}`, agent_id: agent.id, agent_name: agent.name, node_id: node.id, node_name: node.name,
      node_kind: node.kind, node_role: node.role, status: 'active', session_ref: body.session_ref ?? null,
      priority: body.priority ?? 0, created_at: now, updated_at: now,
    }, 201)
  })

  return app
}
