/**
 * Storage port of the engine. Routes and socket handlers only talk to this
 * interface, never to SQL, so a Postgres implementation can be dropped in later.
 * Methods are synchronous because better-sqlite3 is; an async store would wrap the
 * same shapes in promises. All times are epoch milliseconds.
 */
import type { DeliveryStatus } from '../../../shared/wire'

export interface WorkspaceRow { id: string; name: string; createdAt: number }

export interface NodeCapability { name: string; kind: string }

export interface NodeRow {
  id: string
  workspaceId: string
  name: string
  kind: string
  role: string
  version: string
  machineId: string | null
  capabilities: NodeCapability[]
  tags: string[]
  maxAgents: number
  deliveryAdapter: string | null
  /** Set by the socket layer: 'online' after node.register, 'offline' on close. */
  status: 'online' | 'offline'
  handlersLive: boolean
  load: number | null
  activeAgents: number
  lastHeartbeatAt: number | null
  createdAt: number
}

export type AgentType = 'agent' | 'human' | 'system'

export interface AgentRow {
  id: string
  workspaceId: string
  name: string
  type: AgentType
  status: 'active' | 'offline'
  metadata: Record<string, unknown>
  /** Node the agent is bound to ("via node"); deliveries are routed there. */
  nodeId: string | null
  /** High-water mark of assigned seqs; never reused. */
  deliverySeq: number
  /** Cumulative ack cursor. */
  deliveryAckSeq: number
  createdAt: number
}

export interface ChannelRow { id: string; workspaceId: string; name: string; topic: string | null; createdAt: number }

export interface ConversationRow { id: string; workspaceId: string; agentA: string; agentB: string; createdAt: number }

export type InjectionMode = 'wait' | 'steer'

export interface MessageRow {
  id: string
  workspaceId: string
  agentId: string
  channelId: string | null
  conversationId: string | null
  text: string
  mode: InjectionMode
  attachments: unknown[]
  createdAt: number
}

export interface DeliveryRow {
  id: string
  workspaceId: string
  messageId: string
  agentId: string
  seq: number
  status: DeliveryStatus
  mode: InjectionMode
  expiresAt: number
  deliveredAt: number | null
  ackedAt: number | null
  deadLetteredAt: number | null
  createdAt: number
}

export interface NewNode extends Omit<NodeRow, 'status' | 'handlersLive' | 'load' | 'activeAgents' | 'lastHeartbeatAt'> {
  tokenHash: string
}

export interface NodeEnrolPatch {
  name: string
  kind: string
  role: string
  version: string
  machineId: string | null
  capabilities: NodeCapability[]
  tags: string[]
  maxAgents: number
  deliveryAdapter: string | null
  tokenHash: string
}

export interface NodeRegisterPatch {
  name: string
  version: string
  machineId: string | null
  capabilities: NodeCapability[]
  tags: string[]
  maxAgents: number
  at: number
}

export interface NodeHeartbeatPatch {
  at: number
  load?: number
  activeAgents: number
  handlersLive: boolean
  capabilities?: NodeCapability[]
  maxAgents?: number
  version?: string
}

export interface WorkspaceStore {
  /** Creates the workspace and seeds `#general` atomically. */
  create(ws: WorkspaceRow, keyHash: string, general: ChannelRow): void
  get(id: string): WorkspaceRow | undefined
  byKeyHash(keyHash: string): WorkspaceRow | undefined
}

export interface NodeStore {
  get(id: string): NodeRow | undefined
  byName(workspaceId: string, name: string): NodeRow | undefined
  byMachineId(workspaceId: string, machineId: string): NodeRow | undefined
  byTokenHash(tokenHash: string): NodeRow | undefined
  list(workspaceId: string): NodeRow[]
  insert(node: NewNode): void
  /** Re-enrolment: new token, descriptor refreshed, reset to offline. */
  reenrol(id: string, patch: NodeEnrolPatch): void
  markRegistered(id: string, patch: NodeRegisterPatch): void
  heartbeat(id: string, patch: NodeHeartbeatPatch): void
  setOffline(id: string): void
  setHandlersLive(id: string, live: boolean): void
  /** Sockets do not survive a restart, so every node starts offline. */
  resetAllOffline(): void
  /** Deletes the node and unbinds (offlines) its agents in one transaction. */
  delete(id: string): void
}

export interface AgentStore {
  get(id: string): AgentRow | undefined
  byName(workspaceId: string, name: string): AgentRow | undefined
  byTokenHash(tokenHash: string): AgentRow | undefined
  list(workspaceId: string): AgentRow[]
  listOnNode(nodeId: string): AgentRow[]
  insert(agent: AgentRow, tokenHash: string): void
  setToken(id: string, tokenHash: string): void
  /** agent.register on an existing name: new token, bound to the node, active — atomically. */
  assume(id: string, nodeId: string, tokenHash: string): void
  /** Binds to a node (or unbinds with null) and sets presence status. */
  bind(id: string, nodeId: string | null, status: AgentRow['status']): void
  setStatus(id: string, status: AgentRow['status']): void
  /** Count of queued|delivered, unexpired rows above the ack cursor. */
  pendingCount(id: string, now: number): number
}

export interface ChannelStore {
  get(id: string): ChannelRow | undefined
  byName(workspaceId: string, name: string): ChannelRow | undefined
  list(workspaceId: string): Array<ChannelRow & { memberCount: number }>
  insert(ch: ChannelRow): void
  join(channelId: string, agentId: string, at: number): boolean
  leave(channelId: string, agentId: string): boolean
  members(channelId: string): Array<{ agent: AgentRow; joinedAt: number }>
  isMember(channelId: string, agentId: string): boolean
}

export interface PostDmInput {
  workspaceId: string
  from: AgentRow
  to: AgentRow
  conversationId: string
  messageId: string
  text: string
  mode: InjectionMode
  attachments: unknown[]
  now: number
  ttlMs: number
  maxInFlight: number
}

export interface PostChannelInput {
  workspaceId: string
  from: AgentRow
  channel: ChannelRow
  messageId: string
  text: string
  mode: InjectionMode
  attachments: unknown[]
  now: number
  ttlMs: number
  maxInFlight: number
}

export type PostDmResult =
  | { ok: true; message: MessageRow; conversation: ConversationRow; delivery: DeliveryRow }
  | { ok: false; reason: 'mailbox_full' }

export interface PostChannelResult {
  message: MessageRow
  deliveries: DeliveryRow[]
  /** Recipients whose mailbox was at the cap (reject-new, not drop-oldest). */
  rejected: string[]
}

export interface InboxRow {
  unreadChannels: Array<{ channelName: string; unreadCount: number }>
  unreadDms: Array<{ conversationId: string; fromName: string; unreadCount: number; lastMessage: MessageRow }>
}

export interface MailStore {
  postDm(input: PostDmInput): PostDmResult
  postChannelMessage(input: PostChannelInput): PostChannelResult
  message(workspaceId: string, id: string): MessageRow | undefined
  deliveriesForMessage(messageId: string): DeliveryRow[]
  conversation(workspaceId: string, id: string): ConversationRow | undefined
  conversationsFor(agentId: string): ConversationRow[]
  conversationMessages(conversationId: string, limit: number, before?: string): MessageRow[]
  channelMessages(channelId: string, limit: number, before?: string): MessageRow[]
  /**
   * Rows to (re)send to one agent, ascending seq: seq > ack cursor, unexpired;
   * `queued` only, or `queued|delivered` for a replay.
   */
  pendingFor(agentId: string, now: number, includeDelivered: boolean): DeliveryRow[]
  /** Agents that have at least one unexpired queued row (re-drive input). */
  agentsWithQueued(now: number): string[]
  /** Guarded queued→delivered flip; false if the row moved on meanwhile. */
  markDelivered(deliveryId: string, at: number): boolean
  /** Cumulative ack; returns false when it would not raise the cursor. */
  ackUpTo(agentId: string, upToSeq: number, at: number): boolean
  /** queued|delivered rows past expires_at → dead_lettered; returns the count. */
  expire(now: number): number
  inbox(agentId: string): InboxRow
}

export interface Store {
  workspaces: WorkspaceStore
  nodes: NodeStore
  agents: AgentStore
  channels: ChannelStore
  mail: MailStore
  close(): void
}
