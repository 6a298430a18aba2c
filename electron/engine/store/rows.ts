/**
 * Database rows → the store's row types, for both drivers. They differ only in how a row
 * arrives: SQLite gives JSON columns as text and booleans as 0/1; PostgreSQL gives JSONB
 * already parsed and real booleans. The codec says which.
 */
import type { DeliveryStatus } from '../../../shared/wire'
import type {
  AgentRow, ChannelRow, ConversationRow, DeliveryFailureRow, DeliveryRow, InvocationRow, MessageRow, NodeCapability,
  NodeRow, WorkspaceRow,
} from './types'

export type Raw = Record<string, unknown>

export interface RowCodec {
  json<T>(v: unknown, fallback: T): T
  bool(v: unknown): boolean
}

/** SQLite: JSON as text (bad text reads as the fallback), booleans as 0/1. */
export const sqliteCodec: RowCodec = {
  json<T>(v: unknown, fallback: T): T {
    if (typeof v !== 'string') return fallback
    try {
      return JSON.parse(v) as T
    } catch {
      return fallback
    }
  },
  bool: (v) => Number(v) === 1,
}

/** PostgreSQL: JSONB parsed by pg (a JS string here is a JSON string value, not JSON text). */
export const pgCodec: RowCodec = {
  json: <T>(v: unknown, fallback: T): T => (v === null || v === undefined ? fallback : (v as T)),
  bool: (v) => v === true,
}

export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['queued', 'delivered', 'acked', 'failed', 'dead_lettered']

export const str = (v: unknown): string => String(v)
export const optStr = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))
export const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))

export function rowMappers(c: RowCodec) {
  function toWorkspace(r: Raw): WorkspaceRow {
    return { id: str(r.id), name: str(r.name), createdAt: Number(r.created_at) }
  }

  function toNode(r: Raw): NodeRow {
    return {
      id: str(r.id),
      workspaceId: str(r.workspace_id),
      name: str(r.name),
      kind: str(r.kind),
      role: str(r.role),
      version: str(r.version),
      machineId: optStr(r.machine_id),
      capabilities: c.json<NodeCapability[]>(r.capabilities, []),
      tags: c.json<string[]>(r.tags, []),
      maxAgents: Number(r.max_agents),
      deliveryAdapter: optStr(r.delivery_adapter),
      status: r.status === 'online' ? 'online' : 'offline',
      handlersLive: c.bool(r.handlers_live),
      load: optNum(r.load),
      activeAgents: Number(r.active_agents),
      reservedAgents: Number(r.reserved_agents ?? 0),
      lastHeartbeatAt: optNum(r.last_heartbeat_at),
      socketId: optStr(r.socket_id),
      createdAt: Number(r.created_at),
    }
  }

  function toAgent(r: Raw): AgentRow {
    const type = r.type === 'human' || r.type === 'system' ? r.type : 'agent'
    return {
      id: str(r.id),
      workspaceId: str(r.workspace_id),
      name: str(r.name),
      type,
      status: r.status === 'active' ? 'active' : 'offline',
      metadata: c.json<Record<string, unknown>>(r.metadata, {}),
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

  function toChannel(r: Raw): ChannelRow {
    return { id: str(r.id), workspaceId: str(r.workspace_id), name: str(r.name), topic: optStr(r.topic), createdAt: Number(r.created_at) }
  }

  function toMessage(r: Raw): MessageRow {
    const attachments = c.json<unknown>(r.attachments, [])
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

  function toDelivery(r: Raw): DeliveryRow {
    const status = DELIVERY_STATUSES.find((s) => s === r.status) ?? 'queued'
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

  function toConversation(r: Raw): ConversationRow {
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

  function toFailure(r: Raw): DeliveryFailureRow {
    return {
      id: str(r.id), workspaceId: str(r.workspace_id), messageId: str(r.message_id), recipientId: str(r.recipient_id),
      senderId: str(r.sender_id), reason: 'depth_cap', createdAt: Number(r.created_at),
    }
  }

  function toInvocation(r: Raw): InvocationRow {
    const status = (['pending', 'dispatched', 'completed', 'failed'] as const).find((s) => s === r.status) ?? 'pending'
    return {
      id: str(r.id),
      workspaceId: str(r.workspace_id),
      actionName: str(r.action_name),
      capability: str(r.capability),
      callerId: optStr(r.caller_id),
      input: c.json<Record<string, unknown>>(r.input, {}),
      requestHash: str(r.request_hash),
      status,
      targetNodeId: optStr(r.target_node_id),
      dispatchedNodeId: optStr(r.dispatched_node_id),
      attemptedNodeIds: c.json<string[]>(r.attempted_node_ids, []),
      dispatchAttempts: Number(r.dispatch_attempts),
      reserved: c.bool(r.reserved),
      retryAfterAt: optNum(r.retry_after_at),
      dispatchedAt: optNum(r.dispatched_at),
      output: c.json<unknown>(r.output, null),
      error: optStr(r.error),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
      completedAt: optNum(r.completed_at),
    }
  }

  return { toWorkspace, toNode, toAgent, toChannel, toMessage, toDelivery, toConversation, toFailure, toInvocation }
}

export const sqliteRows = rowMappers(sqliteCodec)
export const pgRows = rowMappers(pgCodec)
