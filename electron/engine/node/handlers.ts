/**
 * Node control frame handlers (broker → engine). Each call runs on the node's
 * promise chain. Errors with a code become `error` frames; the socket stays open.
 */
import {
  DELIVERY_CURSOR_CAPABILITY, actionResultSchema, agentDeregisterSchema, agentRegisterSchema, deliveryAckSchema,
  inventorySyncSchema, nodeDeregisterSchema, nodeHeartbeatSchema, nodeRegisterSchema, type NodeToServerFrame,
  type AgentDeregisterFrame, type AgentRegisterFrame, type Capability, type DeliveryAckFrame,
  type InventorySyncFrame, type NodeHeartbeatFrame, type NodeRegisterFrame,
} from '../../../shared/wire'
import { z } from 'zod'
import type { EngineContext } from '../context'
import { nulPath } from '../http/body'
import { hashToken, newId, newToken } from '../ids'
import type { AgentRow, NodeCapability } from '../store/types'
import { isNodeLive, nodeView } from '../views'
import type { NodeConnection } from './connection'

export class FrameError extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
  }
}

/** `spawn:codex` → `spawn`; the cursor flag and bare names are capacity flags. */
export function capabilityKind(name: string): string {
  const i = name.indexOf(':')
  return i > 0 && name.slice(0, i) !== 'relay' ? name.slice(0, i) : 'capacity'
}

const toCaps = (caps: Capability[]): NodeCapability[] => caps.map((c) => ({ name: c.name, kind: c.kind ?? capabilityKind(c.name) }))

/** Best effort: the id of a frame we could not decode, so the error can be correlated. */
function salvageId(text: string): string | undefined {
  try {
    const raw: unknown = JSON.parse(text)
    if (raw && typeof raw === 'object' && 'id' in raw && typeof raw.id === 'string' && raw.id) return raw.id
  } catch { /* not JSON */ }
  return undefined
}

const mintId = (): string => newId('req_')

async function sendError(conn: NodeConnection, id: string | undefined, code: string, message: string): Promise<void> {
  await conn.send({ type: 'error', v: 1, id: id ?? mintId(), ok: false, code, message })
}

async function reply(conn: NodeConnection, id: string | undefined, data: unknown): Promise<boolean> {
  return conn.send({ type: 'reply', v: 1, id: id ?? mintId(), ok: true, data })
}

/** agent.recover (newest engine; not in the shared wire yet): reclaim an identity by id. */
const agentRecoverSchema = z.strictObject({
  type: z.literal('agent.recover'),
  v: z.literal(1),
  id: z.string().min(1),
  name: z.string().min(1),
  expected_agent_id: z.string().min(1),
  invocation_id: z.string().optional(),
  session_ref: z.string().optional(),
  resumable: z.boolean().optional(),
})
type AgentRecoverFrame = z.infer<typeof agentRecoverSchema>

/**
 * Broker frame schemas by `type`: one strict schema per frame, picked by its tag, so
 * a bad frame costs one parse (not a whole union) and the error names the field.
 */
const FRAME_SCHEMAS: Record<string, z.ZodType<NodeToServerFrame>> = {
  'node.register': nodeRegisterSchema,
  'node.heartbeat': nodeHeartbeatSchema,
  'node.deregister': nodeDeregisterSchema,
  'agent.register': agentRegisterSchema,
  'agent.deregister': agentDeregisterSchema,
  'delivery.ack': deliveryAckSchema,
  'action.result': actionResultSchema,
  'inventory.sync': inventorySyncSchema,
}

type Decoded = { ok: true; frame: NodeToServerFrame } | { ok: false; reason: string } | { ok: 'recover'; raw: unknown }

function decode(text: string): Decoded {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'frame is not valid JSON' }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'frame must be a JSON object' }
  const nul = nulPath(raw)
  if (nul) return { ok: false, reason: `${nul}: must not contain NUL characters (U+0000)` }
  const type = (raw as { type?: unknown }).type
  if (typeof type !== 'string') return { ok: false, reason: 'type: missing' }
  if (type === 'agent.recover') return { ok: 'recover', raw }
  const schema = FRAME_SCHEMAS[type]
  if (!schema) return { ok: false, reason: `type: unknown frame type "${type.slice(0, 64)}"` }
  const parsed = schema.safeParse(raw)
  if (parsed.success) return { ok: true, frame: parsed.data }
  const first = parsed.error.issues[0]
  return { ok: false, reason: `${first?.path.length ? first.path.join('.') : type}: ${first?.message ?? 'invalid frame'}` }
}

export async function handleFrame(ctx: EngineContext, conn: NodeConnection, text: string): Promise<void> {
  const decoded = decode(text)
  // Acks wait for the turn's group commit; anything else sees them applied first (the
  // register reply carries the cursor, a replay starts from it).
  if (decoded.ok !== true || decoded.frame.type !== 'delivery.ack') await ctx.router.flushAcks()
  if (decoded.ok === 'recover') {
    const parsed = agentRecoverSchema.safeParse(decoded.raw)
    if (!parsed.success) {
      const first = parsed.error.issues[0]
      return sendError(conn, salvageId(text), 'invalid_message', `${first?.path.join('.') || 'frame'}: ${first?.message ?? 'invalid frame'}`)
    }
    if (!conn.registered) return sendError(conn, parsed.data.id, 'node_not_registered', 'send node.register first')
    try {
      return await onAgentRecover(ctx, conn, parsed.data)
    } catch (err) {
      if (err instanceof FrameError) return sendError(conn, parsed.data.id, err.code, err.message)
      ctx.log('error', 'node frame failed', { node_id: conn.nodeId, type: 'agent.recover', error: String(err) })
      return sendError(conn, parsed.data.id, 'node_control_failed', 'internal error handling frame')
    }
  }
  if (!decoded.ok) {
    ctx.log('warn', 'invalid node frame', { node_id: conn.nodeId, reason: decoded.reason })
    await sendError(conn, salvageId(text), 'invalid_message', decoded.reason)
    return
  }
  const frame = decoded.frame
  const id = 'id' in frame ? frame.id : undefined
  // Everything but node.register needs a registered node: the node's identity and
  // readiness come from that handshake.
  if (frame.type !== 'node.register' && !conn.registered) {
    ctx.log('warn', 'frame before node.register', { node_id: conn.nodeId, type: frame.type })
    return sendError(conn, id, 'node_not_registered', `${frame.type} before node.register`)
  }
  try {
    switch (frame.type) {
      case 'node.register': return await onNodeRegister(ctx, conn, frame)
      case 'node.heartbeat': return await onHeartbeat(ctx, conn, frame)
      case 'node.deregister':
        conn.registered = false
        conn.readyAgents.clear()
        conn.forget()
        if (await ctx.store.nodes.markLost(conn.nodeId, { socketId: conn.connId })) await ctx.actions.nodeLost(conn.nodeId)
        return
      case 'agent.register': return await onAgentRegister(ctx, conn, frame)
      case 'agent.deregister': return await onAgentDeregister(ctx, conn, frame)
      case 'delivery.ack': return await onAck(ctx, conn, frame)
      case 'inventory.sync': return await onInventory(ctx, conn, frame)
      case 'action.result':
        await ctx.actions.onResult(conn, frame.invocation_id, 'error' in frame && frame.error !== undefined ? { error: frame.error } : { output: frame.output })
        return
    }
  } catch (err) {
    if (err instanceof FrameError) return sendError(conn, id, err.code, err.message)
    ctx.log('error', 'node frame failed', { node_id: conn.nodeId, type: frame.type, error: String(err) })
    return sendError(conn, id, 'node_control_failed', 'internal error handling frame')
  }
}

async function onNodeRegister(ctx: EngineContext, conn: NodeConnection, f: NodeRegisterFrame): Promise<void> {
  const { store } = ctx
  // Identity comes from the token, never from the frame.
  if (f.node_id !== conn.nodeId) throw new FrameError('node_id_mismatch', `node_id ${f.node_id} does not match the token's node`)
  const node = await store.nodes.get(conn.nodeId)
  if (!node) throw new FrameError('node_not_found', 'node was deleted')
  const clash = await store.nodes.byName(conn.workspaceId, f.name)
  if (clash && clash.id !== node.id) throw new FrameError('node_name_conflict', `Node name "${f.name}" is already enrolled`)
  const now = ctx.config.now()
  const caps = toCaps(f.capabilities)
  await store.nodes.markRegistered(node.id, {
    name: f.name, version: f.version, machineId: f.machine_id ?? null, capabilities: caps, tags: f.tags, maxAgents: f.max_agents, at: now,
    socketId: conn.connId,
  })
  conn.registered = true
  conn.registeredAt = now
  // Another instance still holding a socket for this node (the broker failed over) drops it.
  ctx.router.bus.publish({ k: 'node.attached', node: node.id, socket: conn.connId })
  conn.cursorAware = caps.some((c) => c.name === DELIVERY_CURSOR_CAPABILITY)
  const fresh = (await store.nodes.get(node.id)) ?? node
  const data = { ...nodeView(fresh, now), accepted_capabilities: caps.map((c) => ({ name: c.name, kind: c.kind, accepted: true })) }
  if (!(await reply(conn, f.id, data))) return
  ctx.log('info', 'node registered', { node_id: node.id, name: f.name, cursor_aware: conn.cursorAware })
  // Legacy brokers get their whole backlog now; cursor-aware ones per agent.register.
  if (!conn.cursorAware) {
    for (const agent of await store.agents.listOnNode(node.id)) await ctx.router.pump(conn, agent.id, true)
  }
  // The database is the invocation queue: work waiting for this node goes out now.
  await ctx.actions.drainNode(node.id)
}

async function onHeartbeat(ctx: EngineContext, conn: NodeConnection, f: NodeHeartbeatFrame): Promise<void> {
  const before = await ctx.store.nodes.get(conn.nodeId)
  const now = ctx.config.now()
  const wasDispatchable = !!before && isNodeLive(before, now) && before.handlersLive
  await ctx.store.nodes.heartbeat(conn.nodeId, {
    at: ctx.config.now(), // server-stamped; the broker never sends a time
    load: f.load === undefined ? undefined : Math.min(1, Math.max(0, f.load)),
    activeAgents: f.active_agents,
    handlersLive: f.handlers_live,
    capabilities: f.capabilities && toCaps(f.capabilities),
    maxAgents: f.max_agents,
    version: f.version,
  })
  // A node the liveness sweep marked offline comes back with its next heartbeat.
  if (before && before.status !== 'online') await ctx.store.nodes.markRegistered(conn.nodeId, {
    name: before.name, version: f.version ?? before.version, machineId: before.machineId, capabilities: f.capabilities ? toCaps(f.capabilities) : before.capabilities,
    tags: before.tags, maxAgents: f.max_agents ?? before.maxAgents, at: now, socketId: conn.connId,
  })
  // Drain only when the heartbeat made work newly dispatchable (engine.md §2.2).
  const freed = !!before && f.active_agents < before.activeAgents
  if (!wasDispatchable && f.handlers_live) await ctx.actions.drainNode(conn.nodeId)
  else if (freed) await ctx.actions.drainNode(conn.nodeId)
}

/** Another live node currently hosts this agent. */
async function activeElsewhere(ctx: EngineContext, agent: AgentRow, nodeId: string): Promise<boolean> {
  if (agent.status !== 'active' || !agent.nodeId || agent.nodeId === nodeId) return false
  const other = await ctx.store.nodes.get(agent.nodeId)
  return !!other && isNodeLive(other, ctx.config.now())
}

async function onAgentRegister(ctx: EngineContext, conn: NodeConnection, f: AgentRegisterFrame): Promise<void> {
  const { store } = ctx
  const now = ctx.config.now()
  const token = newToken('agent')
  let agent = await store.agents.byName(conn.workspaceId, f.name)
  let inserted = false
  if (!agent) {
    const fresh: AgentRow = {
      id: newId('agt_'), workspaceId: conn.workspaceId, name: f.name, type: 'agent', status: 'active', metadata: {},
      nodeId: conn.nodeId, deliverySeq: 0, deliveryAckSeq: 0, originNodeId: conn.nodeId, lastSeenAt: now, wireSeqBase: 0,
      revokedAt: null, createdAt: now,
    }
    try {
      await store.agents.insert(fresh, hashToken(token))
      agent = fresh
      inserted = true
    } catch (err) {
      // Another node (on this or another engine instance) registered the name in between:
      // go on as for an existing agent (the location check decides).
      agent = await store.agents.byName(conn.workspaceId, f.name)
      if (!agent) throw err
    }
  }
  if (!inserted) {
    // Upsert semantics (older engine): a restarted broker resumes its agents by name.
    if (await activeElsewhere(ctx, agent, conn.nodeId)) {
      throw new FrameError('agent_location_conflict', `agent "${f.name}" is active on another node`)
    }
    await store.agents.assume(agent.id, conn.nodeId, hashToken(token))
  }
  await finishAgentBinding(ctx, conn, agent.id, f.id, token)
}

/**
 * Shared tail of agent.register / agent.recover: skip a leading run of finished rows
 * (no gap for the broker), fix the legacy wire base, join #general, reply, then mail.
 */
async function finishAgentBinding(ctx: EngineContext, conn: NodeConnection, agentId: string, requestId: string, token: string): Promise<void> {
  const { store } = ctx
  // Skips a leading run of finished rows. A legacy broker's wire base is not reset here: one
  // that kept its cursor across a reconnect re-sends agent.register and expects the next seq
  // (seq 1 would read as Stale: acked, never typed). One without a cursor says so with a Gap
  // ack of 0, and only then is the agent renumbered (rebaseAfterGap).
  await store.mail.compactCursor(agentId)
  const agent = await store.agents.get(agentId)
  if (!agent) throw new FrameError('agent_not_found', 'agent vanished')
  const general = await store.channels.byName(conn.workspaceId, 'general')
  if (general) await store.channels.join(general.id, agent.id, ctx.config.now())
  // The broker rejects any extra key; delivery_ack_seq only for cursor-aware nodes.
  const data: Record<string, unknown> = { agent_id: agent.id, token, name: agent.name }
  if (conn.cursorAware) data.delivery_ack_seq = agent.deliveryAckSeq
  if (!(await reply(conn, requestId, data))) return
  // A (re-)registered agent may be a respawn whose cursor the broker dropped.
  conn.cursorShown.delete(agent.name)
  // Reply first, then mail: ws ordering guarantees the broker knows the agent.
  if (!conn.cursorAware) {
    conn.readyAgents.add(agent.id)
    await ctx.router.pump(conn, agent.id, true)
    return
  }
  // A cursor-aware broker gets its mail only once the agent is ready here, so the replay can
  // wait behind the frames already queued: a broker that registers its agents after a
  // fail-over hears every reply first, instead of each waiting for the replays before it
  // (under load, seconds each, against the broker's 30 s bound).
  void conn.serialize(async () => {
    if (!conn.open) return
    conn.readyAgents.add(agent.id)
    await ctx.router.pump(conn, agent.id, true)
  })
}

async function onAgentRecover(ctx: EngineContext, conn: NodeConnection, f: AgentRecoverFrame): Promise<void> {
  const agent = await ctx.store.agents.byName(conn.workspaceId, f.name)
  if (!agent) throw new FrameError('agent_not_found', `agent "${f.name}" not found`)
  if (agent.id !== f.expected_agent_id) throw new FrameError('agent_identity_mismatch', `agent "${f.name}" has a different id`)
  if (agent.originNodeId && agent.originNodeId !== conn.nodeId) {
    throw new FrameError('agent_recovery_not_authorized', `agent "${f.name}" was not created on this node`)
  }
  if (await activeElsewhere(ctx, agent, conn.nodeId)) throw new FrameError('agent_location_conflict', `agent "${f.name}" is active on another node`)
  const token = newToken('agent')
  await ctx.store.agents.recover(agent.id, conn.nodeId, hashToken(token))
  ctx.hub.closeAgent(agent.id, 'token_rotated')
  await finishAgentBinding(ctx, conn, agent.id, f.id, token)
}

async function onAgentDeregister(ctx: EngineContext, conn: NodeConnection, f: AgentDeregisterFrame): Promise<void> {
  const agent = await ctx.store.agents.get(f.agent_id)
  // A node may only release agents it hosts.
  if (!agent || agent.workspaceId !== conn.workspaceId || agent.nodeId !== conn.nodeId) return
  await ctx.store.agents.bind(agent.id, null, 'offline')
  conn.readyAgents.delete(agent.id)
  conn.forget(agent.id)
}

/**
 * Acks are coalesced: the highest per agent of this turn is committed with the turn's
 * other mailbox writes (router.nodeAck), which also checks that this node hosts the agent.
 */
async function onAck(ctx: EngineContext, conn: NodeConnection, f: DeliveryAckFrame): Promise<void> {
  // up_to_seq 0 acks nothing. From a legacy broker it is a Gap answer from an agent it holds no
  // cursor for (a restarted broker, a respawn): it wants seq 1 (node-protocol §4.2).
  if (f.up_to_seq === 0) {
    if (!conn.cursorAware && !conn.cursorShown.has(f.agent)) await rebaseAfterGap(ctx, conn, f.agent)
    return
  }
  // A positive ack shows the broker holds a cursor for this agent: a later 0 can only be a
  // late answer to a frame sent before a rebase, and must not renumber again.
  conn.cursorShown.add(f.agent)
  ctx.router.nodeAck(conn, f.agent, f.up_to_seq)
}

/**
 * A legacy broker without a cursor for the agent answered a seq > 1 with a Gap: number the
 * agent's open mail from 1 again (wire seq = seq - base, base = the engine's ack cursor) and
 * send it again. Once renumbered, further Gap answers to the old numbers change nothing.
 */
async function rebaseAfterGap(ctx: EngineContext, conn: NodeConnection, name: string): Promise<void> {
  await ctx.router.flushWrites() // acks of this turn first: the cursor must be current
  const agent = await ctx.store.agents.byName(conn.workspaceId, name)
  if (!agent || agent.nodeId !== conn.nodeId) return
  const cursor = await ctx.store.mail.compactCursor(agent.id)
  if (agent.wireSeqBase === cursor) return
  await ctx.store.agents.setWireSeqBase(agent.id, cursor)
  ctx.log('info', 'legacy broker has no cursor for the agent; renumbered from 1', { node_id: conn.nodeId, agent: name, base: cursor })
  conn.forget(agent.id) // what this socket carried was numbered on the old base: re-read it
  await ctx.router.pump(conn, agent.id, true)
}

async function onInventory(ctx: EngineContext, conn: NodeConnection, f: InventorySyncFrame): Promise<void> {
  const { store } = ctx
  // Validate everything first so a bad entry rejects the whole frame with nothing changed.
  const known: AgentRow[] = []
  for (const entry of f.agents) {
    const agent = await store.agents.byName(conn.workspaceId, entry.name)
    if (!agent) continue
    if (agent.id !== entry.agent_id) throw new FrameError('agent_identity_mismatch', `agent "${entry.name}" has a different id`)
    if (await activeElsewhere(ctx, agent, conn.nodeId)) throw new FrameError('agent_location_conflict', `agent "${entry.name}" is active on another node`)
    known.push(agent)
  }
  const listed = new Set(known.map((a) => a.id))
  const movedHere = new Set<string>()
  for (const agent of known) {
    if (agent.nodeId !== conn.nodeId) movedHere.add(agent.id)
    await store.agents.bind(agent.id, conn.nodeId, 'active')
  }
  // Missing from the snapshot → offline. The binding is kept on purpose: v5 brokers
  // list only sidecar-spawned agents, and dropping the binding would cut mail to the rest.
  for (const agent of await store.agents.listOnNode(conn.nodeId)) {
    if (!listed.has(agent.id) && agent.status === 'active') await store.agents.setStatus(agent.id, 'offline')
  }
  const inv = await ctx.actions.reconcile(conn, f.agents)
  const data = {
    rebound_agents: known.map((a) => ({ agent_id: a.id, name: a.name })),
    open_invocations: inv.open,
    completed_invocations: inv.completed,
    rescheduled_invocations: inv.rescheduled,
  }
  if (!(await reply(conn, undefined, data))) return
  for (const agent of known) {
    const wasReady = conn.readyAgents.has(agent.id)
    if (conn.cursorAware) conn.readyAgents.add(agent.id)
    await ctx.router.pump(conn, agent.id, movedHere.has(agent.id) || (conn.cursorAware && !wasReady))
  }
}
