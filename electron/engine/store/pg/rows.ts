/** PostgreSQL rows → the store's row types (JSONB arrives parsed, BIGINT as numbers). */
import type { DeliveryStatus } from '../../../../shared/wire'
import type {
  AgentRow, ChannelRow, ConversationRow, DeliveryFailureRow, DeliveryRow, InvocationRow, MessageRow, NodeCapability,
  NodeRow, WorkspaceRow,
} from '../types'
import type { Raw } from './db'

const STATUSES: readonly DeliveryStatus[] = ['queued', 'delivered', 'acked', 'failed', 'dead_lettered']

export const str = (v: unknown): string => String(v)
export const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

/** A JSONB value: pg has parsed it already (a JS string here is a JSON string value, not JSON text). */
function json<T>(v: unknown, fallback: T): T {
  return v === null || v === undefined ? fallback : (v as T)
}

/** A JS value as a JSONB parameter: always JSON text (pg would turn a JS array into a SQL array). */
export const jsonb = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v))

/** The message columns (not `pos` or `search_vector`). */
export const MESSAGE_COLUMNS = 'id, workspace_id, agent_id, channel_id, conversation_id, text, mode, attachments, thread_id, created_at'
export const messageColumns = (alias: string): string => MESSAGE_COLUMNS.split(', ').map((c) => `${alias}.${c}`).join(', ')

export function toWorkspace(r: Raw): WorkspaceRow {
  return { id: str(r.id), name: str(r.name), createdAt: Number(r.created_at) }
}

export function toNode(r: Raw): NodeRow {
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    name: str(r.name),
    kind: str(r.kind),
    role: str(r.role),
    version: str(r.version),
    machineId: optStr(r.machine_id),
    capabilities: json<NodeCapability[]>(r.capabilities, []),
    tags: json<string[]>(r.tags, []),
    maxAgents: Number(r.max_agents),
    deliveryAdapter: optStr(r.delivery_adapter),
    status: r.status === 'online' ? 'online' : 'offline',
    handlersLive: r.handlers_live === true,
    load: optNum(r.load),
    activeAgents: Number(r.active_agents),
    reservedAgents: Number(r.reserved_agents ?? 0),
    lastHeartbeatAt: optNum(r.last_heartbeat_at),
    createdAt: Number(r.created_at),
  }
}

export function toAgent(r: Raw): AgentRow {
  const type = r.type === 'human' || r.type === 'system' ? r.type : 'agent'
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    name: str(r.name),
    type,
    status: r.status === 'active' ? 'active' : 'offline',
    metadata: json<Record<string, unknown>>(r.metadata, {}),
    nodeId: optStr(r.node_id),
    deliverySeq: Number(r.delivery_seq),
    deliveryAckSeq: Number(r.delivery_ack_seq),
    originNodeId: optStr(r.origin_node_id),
    lastSeenAt: optNum(r.last_seen_at),
    wireSeqBase: Number(r.wire_seq_base ?? 0),
    revokedAt: optNum(r.revoked_at),
    createdAt: Number(r.created_at),
  }
}

export function toChannel(r: Raw): ChannelRow {
  return { id: str(r.id), workspaceId: str(r.workspace_id), name: str(r.name), topic: optStr(r.topic), createdAt: Number(r.created_at) }
}

export function toMessage(r: Raw): MessageRow {
  const attachments = json<unknown>(r.attachments, [])
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    agentId: str(r.agent_id),
    channelId: optStr(r.channel_id),
    conversationId: optStr(r.conversation_id),
    text: str(r.text),
    mode: r.mode === 'steer' ? 'steer' : 'wait',
    attachments: Array.isArray(attachments) ? attachments : [],
    threadId: optStr(r.thread_id),
    createdAt: Number(r.created_at),
  }
}

export function toDelivery(r: Raw): DeliveryRow {
  const status = STATUSES.find((s) => s === r.status) ?? 'queued'
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    messageId: str(r.message_id),
    agentId: str(r.agent_id),
    seq: Number(r.seq),
    status,
    mode: r.mode === 'steer' ? 'steer' : 'wait',
    expiresAt: Number(r.expires_at),
    deliveredAt: optNum(r.delivered_at),
    ackedAt: optNum(r.acked_at),
    deadLetteredAt: optNum(r.dead_lettered_at),
    reason: optStr(r.reason),
    failedAt: optNum(r.failed_at),
    createdAt: Number(r.created_at),
  }
}

export function toConversation(r: Raw): ConversationRow {
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    kind: r.kind === 'group' ? 'group' : 'dm',
    name: optStr(r.name),
    agentA: str(r.agent_a),
    agentB: str(r.agent_b),
    createdAt: Number(r.created_at),
  }
}

export function toFailure(r: Raw): DeliveryFailureRow {
  return {
    id: str(r.id), workspaceId: str(r.workspace_id), messageId: str(r.message_id), recipientId: str(r.recipient_id),
    senderId: str(r.sender_id), reason: 'depth_cap', createdAt: Number(r.created_at),
  }
}

export function toInvocation(r: Raw): InvocationRow {
  const status = (['pending', 'dispatched', 'completed', 'failed'] as const).find((s) => s === r.status) ?? 'pending'
  return {
    id: str(r.id),
    workspaceId: str(r.workspace_id),
    actionName: str(r.action_name),
    capability: str(r.capability),
    callerId: optStr(r.caller_id),
    input: json<Record<string, unknown>>(r.input, {}),
    requestHash: str(r.request_hash),
    status,
    targetNodeId: optStr(r.target_node_id),
    dispatchedNodeId: optStr(r.dispatched_node_id),
    attemptedNodeIds: json<string[]>(r.attempted_node_ids, []),
    dispatchAttempts: Number(r.dispatch_attempts),
    reserved: r.reserved === true,
    retryAfterAt: optNum(r.retry_after_at),
    dispatchedAt: optNum(r.dispatched_at),
    output: json<unknown>(r.output, null),
    error: optStr(r.error),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    completedAt: optNum(r.completed_at),
  }
}
