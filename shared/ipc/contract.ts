/**
 * The IPC contract: the seam between the host (Electron main or the headless server)
 * and the renderer. Commands have a request and a result schema; events have a payload
 * schema. Both transports (Electron IPC, the authenticated loopback WebSocket) carry
 * exactly this, and both validate every request at the host edge.
 * No Node or DOM APIs here.
 */
import { z } from 'zod'

// ---- shared value types ----------------------------------------------------

export const nodeStateSchema = z.enum(['starting', 'connecting', 'connected', 'reconnecting', 'disconnected'])
export type NodeState = z.infer<typeof nodeStateSchema>

export const nodeStatusSchema = z.object({
  state: nodeStateSchema,
  /** Why the node is not connected, in words a person understands. */
  reason: z.string().optional(),
  nodeName: z.string(),
  nodeId: z.string(),
  engineUrl: z.string(),
  embeddedEngine: z.boolean(),
  workspaceId: z.string().optional(),
  /** Human identity the UI sends as. */
  userName: z.string().optional(),
  lastHeartbeatAt: z.number().optional(),
  agentsOnline: z.number().int().nonnegative(),
})
export type NodeStatus = z.infer<typeof nodeStatusSchema>

export const agentStatusSchema = z.enum(['starting', 'running', 'exited', 'failed'])
export type AgentStatus = z.infer<typeof agentStatusSchema>

export const agentInfoSchema = z.object({
  name: z.string(),
  command: z.string(),
  args: z.array(z.string()),
  cwd: z.string(),
  status: agentStatusSchema,
  pid: z.number().int().optional(),
  agentId: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  error: z.string().optional(),
  startedAt: z.number(),
  /** Deliveries waiting to be typed into this agent (e.g. while the user types). */
  pendingInjections: z.number().int().nonnegative(),
})
export type AgentInfo = z.infer<typeof agentInfoSchema>

/**
 * A message's lifecycle as this node sees it. `sent` = accepted by the engine;
 * `received` = the broker got the deliver frame; `queued` = waiting for its turn in
 * the agent's injector; `typed` = text + Enter written to the PTY; `verified` = echo
 * seen; `acked` = delivery.ack sent to the engine.
 */
export const messageStateSchema = z.enum([
  'sending',
  'sent',
  'received',
  'queued',
  'typed',
  'verified',
  'acked',
  'failed',
  'expired',
])
export type MessageState = z.infer<typeof messageStateSchema>

export const messageStepSchema = z.object({ state: messageStateSchema, at: z.number(), detail: z.string().optional() })
export type MessageStep = z.infer<typeof messageStepSchema>

export const feedMessageSchema = z.object({
  /** Engine message id, or a local id while still sending. */
  id: z.string(),
  from: z.string(),
  to: z.string(),
  text: z.string(),
  /** `in`: delivered to an agent of this node. `out`: sent from this app's user. */
  direction: z.enum(['in', 'out']),
  state: messageStateSchema,
  steps: z.array(messageStepSchema),
  error: z.string().optional(),
})
export type FeedMessage = z.infer<typeof feedMessageSchema>

const agentName = z
  .string()
  .trim()
  .min(1, 'name is required')
  .max(64, 'name is at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'name may use letters, digits, ".", "_" and "-", and must start with a letter or digit')

// ---- commands --------------------------------------------------------------

const empty = z.object({}).strict()
const ok = z.object({ ok: z.literal(true) })

export const commands = {
  'node.status': { request: empty, result: nodeStatusSchema },
  'node.reconnect': { request: empty, result: ok },
  'agents.list': { request: empty, result: z.array(agentInfoSchema) },
  'agents.spawn': {
    request: z
      .object({
        name: agentName,
        command: z.string().trim().min(1, 'command is required'),
        args: z.array(z.string()).default([]),
        cwd: z.string().optional(),
      })
      .strict(),
    result: agentInfoSchema,
  },
  'agents.stop': { request: z.object({ name: agentName }).strict(), result: ok },
  'terminal.write': {
    request: z.object({ name: agentName, data: z.string().max(1 << 20) }).strict(),
    result: ok,
  },
  'terminal.resize': {
    request: z
      .object({ name: agentName, cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(1000) })
      .strict(),
    result: ok,
  },
  /** Scrollback kept by the host, so a terminal opened later shows what happened. */
  'terminal.snapshot': { request: z.object({ name: agentName }).strict(), result: z.object({ data: z.string() }) },
  'messages.list': { request: empty, result: z.array(feedMessageSchema) },
  'messages.send': {
    request: z
      .object({ to: z.string().trim().min(1, 'recipient is required'), text: z.string().min(1, 'message is empty').max(64_000) })
      .strict(),
    result: feedMessageSchema,
  },
} as const

export type Commands = typeof commands
export type CommandName = keyof Commands
export type CommandRequest<C extends CommandName> = z.input<Commands[C]['request']>
export type ParsedRequest<C extends CommandName> = z.output<Commands[C]['request']>
export type CommandResult<C extends CommandName> = z.output<Commands[C]['result']>

// ---- events ----------------------------------------------------------------

export const events = {
  'node.status': nodeStatusSchema,
  'agent.changed': agentInfoSchema,
  'agent.removed': z.object({ name: z.string() }),
  'terminal.output': z.object({ name: z.string(), data: z.string() }),
  'message.changed': feedMessageSchema,
} as const

export type Events = typeof events
export type EventName = keyof Events
export type EventPayload<E extends EventName> = z.output<Events[E]>

export const commandNames = Object.keys(commands) as CommandName[]
export const eventNames = Object.keys(events) as EventName[]

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(commands, name)
}

/** Errors cross the contract as values: a code and a message a person understands. */
export interface ContractError {
  code: string
  message: string
}

export type CommandOutcome<C extends CommandName> =
  | { ok: true; result: CommandResult<C> }
  | { ok: false; error: ContractError }

/** Validate a request at the host edge; returns a readable error instead of throwing. */
export function parseRequest<C extends CommandName>(
  command: C,
  request: unknown,
): { ok: true; value: ParsedRequest<C> } | { ok: false; error: ContractError } {
  const parsed = commands[command].request.safeParse(request ?? {})
  if (parsed.success) return { ok: true, value: parsed.data as ParsedRequest<C> }
  const issue = parsed.error.issues[0]
  const field = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  return { ok: false, error: { code: 'invalid_request', message: `${field}${issue?.message ?? 'invalid request'}` } }
}

/**
 * The headless transport's frames (one JSON object per WebSocket text message).
 * The Electron transport carries the same command/request/result over ipc.
 */
export const wsClientFrameSchema = z.object({
  id: z.number().int(),
  command: z.string(),
  request: z.unknown().optional(),
})
export type WsClientFrame = z.infer<typeof wsClientFrameSchema>

export type WsServerFrame =
  | { kind: 'result'; id: number; outcome: CommandOutcome<CommandName> }
  | { kind: 'event'; event: EventName; payload: unknown }
