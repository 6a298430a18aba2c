/**
 * Store rows → public JSON. Kept in one place so REST answers and ws replies
 * agree on every field the real broker decodes.
 */
import { NODE_LIVENESS_TTL_MS } from './context'
import type { AgentRow, ChannelRow, DeliveryRow, MessageRow, NodeRow } from './store/types'

export const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms))

export function isNodeLive(node: NodeRow, now: number): boolean {
  return node.status === 'online' && node.lastHeartbeatAt !== null && now - node.lastHeartbeatAt <= NODE_LIVENESS_TTL_MS
}

/**
 * Node descriptor. `load` is always a number (0 when unknown): the real broker
 * cannot decode null. Absent optionals are omitted rather than null.
 */
export function nodeView(node: NodeRow, now: number): Record<string, unknown> {
  const live = isNodeLive(node, now)
  const view: Record<string, unknown> = {
    id: node.id,
    workspace_id: node.workspaceId,
    name: node.name,
    kind: node.kind,
    role: node.role,
    delivery_adapter: node.deliveryAdapter ?? 'ws.node.v1',
    capabilities: node.capabilities,
    tags: node.tags,
    version: node.version,
    status: live ? 'online' : 'offline',
    live,
    handlers_live: live && node.handlersLive,
    load: node.load ?? 0,
    active_agents: node.activeAgents,
    max_agents: node.maxAgents,
    created_at: iso(node.createdAt),
  }
  if (node.machineId !== null) view.machine_id = node.machineId
  if (node.lastHeartbeatAt !== null) view.last_heartbeat_at = iso(node.lastHeartbeatAt)
  return view
}

export function agentView(agent: AgentRow, nodeName?: string): Record<string, unknown> {
  return {
    id: agent.id,
    workspace_id: agent.workspaceId,
    name: agent.name,
    type: agent.type,
    status: agent.status,
    metadata: agent.metadata,
    node: nodeName ?? null,
    created_at: iso(agent.createdAt),
  }
}

export function channelView(ch: ChannelRow, memberCount?: number): Record<string, unknown> {
  const view: Record<string, unknown> = { id: ch.id, name: ch.name, topic: ch.topic, created_at: iso(ch.createdAt) }
  if (memberCount !== undefined) view.member_count = memberCount
  return view
}

export function messageView(m: MessageRow, senderName: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: m.id,
    agent_id: m.agentId,
    agent_name: senderName,
    from_name: senderName,
    text: m.text,
    injection_mode: m.mode,
    attachments: m.attachments,
    thread_id: m.threadId,
    channel_id: m.channelId,
    conversation_id: m.conversationId,
    created_at: iso(m.createdAt),
    ...extra,
  }
}

export function deliveryView(d: DeliveryRow, agentName: string): Record<string, unknown> {
  return {
    id: d.id,
    agent_id: d.agentId,
    agent_name: agentName,
    seq: d.seq,
    status: d.status,
    mode: d.mode,
    delivered_at: isoOrNull(d.deliveredAt),
    acked_at: isoOrNull(d.ackedAt),
    dead_lettered_at: isoOrNull(d.deadLetteredAt),
    failed_at: isoOrNull(d.failedAt),
    reason: d.reason,
    expires_at: iso(d.expiresAt),
    created_at: iso(d.createdAt),
  }
}
