/**
 * Wire v1 of the node control socket (`/v1/node/ws`), broker ⇄ engine.
 *
 * Encoding rules the real relay broker enforces (and so must we, both ways):
 * - every frame is one JSON text message, tagged by `type`, with `v` exactly 1;
 * - optional fields are omitted, never `null` (except `node.register.resume_cursor`);
 * - `deliver` and `action.invoke` tolerate unknown fields; `ping`, `reply`, `error`
 *   and the agent.register reply data reject them.
 * No Node or DOM APIs here: both the engine and the broker import this.
 */
import { z } from 'zod'

const v1 = z.literal(1)
const nonEmpty = z.string().min(1)

export const capabilitySchema = z.strictObject({
  name: nonEmpty,
  kind: z.string().optional(),
  global: z.boolean().optional(),
  queue: z.string().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
})
export type Capability = z.infer<typeof capabilitySchema>

export const inventoryAgentSchema = z.strictObject({
  agent_id: nonEmpty,
  name: nonEmpty,
  invocation_id: z.string().optional(),
  session_ref: z.string().optional(),
})
export type InventoryAgent = z.infer<typeof inventoryAgentSchema>

// ---- broker → engine -------------------------------------------------------

export const nodeRegisterSchema = z.strictObject({
  type: z.literal('node.register'),
  v: v1,
  id: z.string().optional(),
  name: nonEmpty,
  node_id: nonEmpty,
  capabilities: z.array(capabilitySchema),
  max_agents: z.number().int().nonnegative(),
  tags: z.array(z.string()),
  version: z.string(),
  machine_id: z.string().optional(),
  resume_cursor: z.string().nullable(),
})

export const nodeHeartbeatSchema = z.strictObject({
  type: z.literal('node.heartbeat'),
  v: v1,
  name: z.string().optional(),
  node_id: z.string().optional(),
  capabilities: z.array(capabilitySchema).optional(),
  max_agents: z.number().int().nonnegative().optional(),
  version: z.string().optional(),
  // The real broker requires load to be finite and ≥ 0; the engine clamps to 0..1.
  load: z.number().finite().nonnegative().optional(),
  load_reported: z.boolean().optional(),
  active_agents: z.number().int().nonnegative(),
  handlers_live: z.boolean(),
})

export const nodeDeregisterSchema = z.strictObject({
  type: z.literal('node.deregister'),
  v: v1,
})

export const agentRegisterSchema = z.strictObject({
  type: z.literal('agent.register'),
  v: v1,
  id: nonEmpty,
  name: nonEmpty,
  invocation_id: z.string().optional(),
  session_ref: z.string().optional(),
  resumable: z.boolean().optional(),
})

export const agentDeregisterSchema = z.strictObject({
  type: z.literal('agent.deregister'),
  v: v1,
  id: z.string().optional(),
  agent_id: nonEmpty,
  name: z.string().optional(),
})

export const deliveryAckSchema = z.strictObject({
  type: z.literal('delivery.ack'),
  v: v1,
  agent: nonEmpty,
  up_to_seq: z.number().int().nonnegative(),
})

export const actionResultSchema = z
  .strictObject({
    type: z.literal('action.result'),
    v: v1,
    invocation_id: nonEmpty,
    output: z.unknown().optional(),
    error: z.string().optional(),
  })
  .refine((f) => ('output' in f) !== ('error' in f), {
    message: 'action.result must carry exactly one of output / error',
  })

export const inventorySyncSchema = z.strictObject({
  type: z.literal('inventory.sync'),
  v: v1,
  agents: z.array(inventoryAgentSchema),
})

export const nodeToServerSchema = z.union([
  nodeRegisterSchema,
  nodeHeartbeatSchema,
  nodeDeregisterSchema,
  agentRegisterSchema,
  agentDeregisterSchema,
  deliveryAckSchema,
  actionResultSchema,
  inventorySyncSchema,
])

export type NodeRegisterFrame = z.infer<typeof nodeRegisterSchema>
export type NodeHeartbeatFrame = z.infer<typeof nodeHeartbeatSchema>
export type NodeDeregisterFrame = z.infer<typeof nodeDeregisterSchema>
export type AgentRegisterFrame = z.infer<typeof agentRegisterSchema>
export type AgentDeregisterFrame = z.infer<typeof agentDeregisterSchema>
export type DeliveryAckFrame = z.infer<typeof deliveryAckSchema>
export type ActionResultFrame = z.infer<typeof actionResultSchema>
export type InventorySyncFrame = z.infer<typeof inventorySyncSchema>
export type NodeToServerFrame = z.infer<typeof nodeToServerSchema>

// ---- engine → broker -------------------------------------------------------

export const deliverSchema = z.looseObject({
  type: z.literal('deliver'),
  v: v1,
  agent: nonEmpty,
  agent_id: z.string(),
  delivery_id: z.string(),
  msg_id: z.string(),
  seq: z.number().int().nonnegative(),
  mode: z.enum(['wait', 'steer']),
  payload: z.unknown(),
})

export const actionInvokeSchema = z.looseObject({
  type: z.literal('action.invoke'),
  v: v1,
  invocation_id: nonEmpty,
  action: nonEmpty,
  input: z.unknown(),
  agent_id: z.string().optional(),
  agent_name: z.string().optional(),
})

export const pingSchema = z.strictObject({ type: z.literal('ping'), v: v1 })

export const replySchema = z.strictObject({
  type: z.literal('reply'),
  v: v1,
  id: z.string(),
  ok: z.literal(true),
  data: z.unknown(),
})

export const errorFrameSchema = z.strictObject({
  type: z.literal('error'),
  v: v1,
  id: z.string(),
  ok: z.literal(false),
  code: z.string(),
  message: z.string(),
})

/** The agent.register reply data is validated strictly by the real broker. */
export const agentRegisterReplyDataSchema = z.strictObject({
  agent_id: nonEmpty,
  token: nonEmpty,
  name: z.string().optional(),
  // Only sent to nodes that advertised `relay:delivery-cursor-v1`.
  delivery_ack_seq: z.number().int().nonnegative().optional(),
})
export type AgentRegisterReplyData = z.infer<typeof agentRegisterReplyDataSchema>

export const serverToNodeSchema = z.union([
  deliverSchema,
  actionInvokeSchema,
  pingSchema,
  replySchema,
  errorFrameSchema,
])

export type DeliverFrame = z.infer<typeof deliverSchema>
export type ActionInvokeFrame = z.infer<typeof actionInvokeSchema>
export type PingFrame = z.infer<typeof pingSchema>
export type ReplyFrame = z.infer<typeof replySchema>
export type ErrorFrame = z.infer<typeof errorFrameSchema>
export type ServerToNodeFrame = z.infer<typeof serverToNodeSchema>

/** Capability a broker advertises to get cursor-aware replay (engine.md §3.4). */
export const DELIVERY_CURSOR_CAPABILITY = 'relay:delivery-cursor-v1'

export type DecodeResult<T> = { ok: true; frame: T } | { ok: false; reason: string }

function decodeWith<T>(schema: z.ZodType<T>, text: string): DecodeResult<T> {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'frame is not valid JSON' }
  }
  // `null` for an optional field is a decode error on the wire (§3.2); zod's
  // `.optional()` already rejects null, so nothing more to do here.
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const first = parsed.error.issues[0]
    const where = first?.path.length ? first.path.join('.') : 'frame'
    return { ok: false, reason: `${where}: ${first?.message ?? 'invalid frame'}` }
  }
  return { ok: true, frame: parsed.data }
}

export const decodeServerFrame = (text: string): DecodeResult<ServerToNodeFrame> =>
  decodeWith(serverToNodeSchema, text)

export const decodeNodeFrame = (text: string): DecodeResult<NodeToServerFrame> =>
  decodeWith(nodeToServerSchema, text)

/** Serialise a frame, dropping `undefined` fields so absent stays absent. */
export function encodeFrame(frame: NodeToServerFrame | ServerToNodeFrame): string {
  return JSON.stringify(frame)
}
