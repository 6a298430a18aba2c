/**
 * REST shapes of the relaycast-compatible engine that more than one piece reads:
 * the engine writes them, the broker, the host and the `relay` command parse them.
 * Envelope: `{ok:true,data}` or `{ok:false,error:{code,message}}`.
 */
import { z } from 'zod'

export const errorBodySchema = z.object({ code: z.string(), message: z.string() })

function buildEnvelope<T extends z.ZodTypeAny>(data: T) {
  return z.union([
    z.object({ ok: z.literal(true), data, cursor: z.unknown().optional() }),
    z.object({ ok: z.literal(false), error: errorBodySchema }),
  ])
}

// One envelope per data schema: zod compiles a schema on its first parse, and building a
// fresh one for every REST call cost the host ~0.65 ms per message under load.
const envelopes = new WeakMap<z.ZodTypeAny, ReturnType<typeof buildEnvelope>>()

export function envelopeSchema<T extends z.ZodTypeAny>(data: T): ReturnType<typeof buildEnvelope<T>> {
  let env = envelopes.get(data)
  if (!env) envelopes.set(data, (env = buildEnvelope(data)))
  return env as ReturnType<typeof buildEnvelope<T>>
}

export const workspaceCreatedSchema = z.looseObject({
  workspace_id: z.string(),
  api_key: z.string(),
  name: z.string().optional(),
})
export type WorkspaceCreated = z.infer<typeof workspaceCreatedSchema>

export const createNodeRequestSchema = z.object({
  node_id: z.string().min(1).optional(),
  name: z.string(),
  kind: z.enum(['ws', 'http_push', 'poll']).optional(),
  role: z.enum(['broker', 'direct']).optional(),
  version: z.string().optional(),
  machine_id: z.string().optional(),
  capabilities: z.array(z.string()).optional(),
  max_agents: z.number().int().nonnegative().optional(),
  tags: z.array(z.string()).optional(),
  delivery_adapter: z.string().optional(),
  delivery: z.unknown().optional(),
})
export type CreateNodeRequest = z.infer<typeof createNodeRequestSchema>

/** Node descriptor + token; every field the real broker requires is here (interop page). */
export const nodeCreatedSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  token: z.string(),
  workspace_id: z.string().optional(),
})
export type NodeCreated = z.infer<typeof nodeCreatedSchema>

export const agentCreatedSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  token: z.string(),
  status: z.string(),
  created_at: z.string(),
  workspace_id: z.string().optional(),
})
export type AgentCreated = z.infer<typeof agentCreatedSchema>

export const dmRequestSchema = z.object({
  to: z.string().min(1),
  text: z.string().min(1),
  mode: z.enum(['wait', 'steer']).optional(),
  attachments: z.array(z.unknown()).optional(),
  data: z.unknown().optional(),
})
export type DmRequest = z.infer<typeof dmRequestSchema>

export const dmSentSchema = z.looseObject({
  conversation_id: z.string(),
  message: z.looseObject({ id: z.string(), agent_name: z.string(), text: z.string() }),
  created_at: z.string(),
})
export type DmSent = z.infer<typeof dmSentSchema>

/** Delivery lifecycle of one message to one agent, as the engine stores it. */
export const deliveryStatusSchema = z.enum(['queued', 'delivered', 'acked', 'failed', 'dead_lettered'])
export type DeliveryStatus = z.infer<typeof deliveryStatusSchema>
