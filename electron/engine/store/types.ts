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
  /** Spawns dispatched to this node and not yet finished (capacity held for them). */
  reservedAgents: number
  lastHeartbeatAt: number | null
  /** The socket that registered last (NodeRegisterPatch.socketId); null before any. */
  socketId: string | null
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
  /** Node that first hosted it (agent.recover is only allowed from there). */
  originNodeId: string | null
  /** Last authenticated REST call / heartbeat (presence of agents without a node). */
  lastSeenAt: number | null
  /**
   * Wire seq = seq - wireSeqBase on a legacy (non cursor-aware) node: a fresh broker
   * session starts at 1, so the base is set to the ack cursor at agent.register.
   */
  wireSeqBase: number
  revokedAt: number | null
  createdAt: number
}

export interface ChannelRow { id: string; workspaceId: string; name: string; topic: string | null; createdAt: number }

export interface ConversationRow {
  id: string
  workspaceId: string
  kind: 'dm' | 'group'
  name: string | null
  /** 1:1 only (sorted pair); for groups both hold the conversation id. */
  agentA: string
  agentB: string
  createdAt: number
}

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
  /** Parent message id for a thread reply. */
  threadId: string | null
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
  /** Why a row is dead-lettered/failed (`ttl_expired`, or the caller's reason). */
  reason: string | null
  failedAt: number | null
  createdAt: number
}

/** A recipient the message never reached a mailbox of (reject-new at the depth cap). */
export interface DeliveryFailureRow {
  id: string
  workspaceId: string
  messageId: string
  recipientId: string
  senderId: string
  reason: 'depth_cap'
  createdAt: number
}

export interface NewNode extends Omit<NodeRow, 'status' | 'handlersLive' | 'load' | 'activeAgents' | 'reservedAgents' | 'lastHeartbeatAt' | 'socketId'> {
  tokenHash: string
}

/** What a re-enrolment (token rotation) overwrites on the node row. */
export type NodeEnrolPatch = Pick<
  NodeRow,
  'name' | 'kind' | 'role' | 'version' | 'machineId' | 'capabilities' | 'tags' | 'maxAgents' | 'deliveryAdapter'
> & { tokenHash: string }

export interface NodeRegisterPatch {
  name: string
  version: string
  machineId: string | null
  capabilities: NodeCapability[]
  tags: string[]
  maxAgents: number
  at: number
  /**
   * The socket that registered (its connection id). A later markLost that names another
   * socket changes nothing: with several engine instances, the close of a socket a broker
   * left behind on one instance can land after it registered on another.
   */
  socketId?: string
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
  /** Nodes still marked online whose last heartbeat is older than `cutoff`. */
  staleOnline(cutoff: number): NodeRow[]
  /**
   * Marks the node offline and its active agents offline (bindings kept), atomically; true if
   * it did. With `guard.socketId`, only while that socket is the one that registered last;
   * with `guard.heartbeatBefore`, only while its last heartbeat is still older than that (the
   * liveness sweep: a heartbeat that lands between its read and this write keeps the node).
   */
  markLost(id: string, guard?: { socketId?: string; heartbeatBefore?: number }): boolean
  /** Guarded capacity reservation: false when the node is full (max 0 = unbounded). */
  reserve(id: string): boolean
  release(id: string): void
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
  /** Kills the token (hash replaced by an unmatchable value). */
  revoke(id: string, at: number): void
  /** agent.recover: new token, rebound to the node, active. */
  recover(id: string, nodeId: string, tokenHash: string): void
  setWireSeqBase(id: string, base: number): void
  touch(id: string, at: number): void
}

export interface ChannelStore {
  /** Channels the agent is a member of. */
  memberOf(agentId: string): ChannelRow[]
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
  threadId?: string | null
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
  /** One durable failure row per rejected recipient (visible over REST). */
  failures: DeliveryFailureRow[]
}

/** A post into an existing conversation (group DM) or a thread reply: a channel post's fields, in a conversation. */
export interface PostConversationInput extends Omit<PostChannelInput, 'channel'> {
  conversation: ConversationRow
}

export interface SearchQuery {
  workspaceId: string
  /** Raw user text; the store turns it into a safe FTS5 query. */
  q: string
  channelId?: string
  fromId?: string
  /** Restrict to what this agent may read (its DMs + every channel). */
  viewerId?: string
  limit: number
}

export interface InboxRow {
  unreadChannels: Array<{ channelName: string; unreadCount: number }>
  unreadDms: Array<{ conversationId: string; fromName: string; unreadCount: number; lastMessage: MessageRow }>
}

/** One post of a group commit: a DM, a channel message, or a post into a conversation (group DM, thread reply). */
export type PostInput =
  | ({ kind: 'dm' } & PostDmInput)
  | ({ kind: 'channel' } & PostChannelInput)
  | ({ kind: 'conversation' } & PostConversationInput)

/** What became of one post of a group commit. */
export type PostOutcome =
  | {
      status: 'posted'
      message: MessageRow
      /** The conversation it went into (a first DM creates it); null for channel posts. */
      conversation: ConversationRow | null
      deliveries: DeliveryRow[]
      rejected: string[]
      failures: DeliveryFailureRow[]
    }
  /** DM only, reject-new: the recipient was at the cap; nothing was written. */
  | { status: 'mailbox_full' }
  /** The message id is already stored (a retried Idempotency-Key); nothing was written. */
  | { status: 'duplicate' }
  /** This post failed and was rolled back on its own; the rest of the batch stands. */
  | { status: 'failed'; error: unknown }

/**
 * Mailbox writes gathered over one turn of the event loop, committed together. Applied in
 * this order: delivered marks, cumulative acks (at most one per agent), posts in input order
 * (seqs are assigned in that order, so per-agent order is the order of the array).
 */
export interface MailBatch {
  at: number
  /** Delivery ids written to a socket: guarded queued → delivered. */
  delivered: string[]
  acks: Array<{ agentId: string; upToSeq: number }>
  posts: PostInput[]
}

export interface MailBatchResult {
  /** Per `delivered` id: whether it moved (false: it had moved on, e.g. acked). */
  delivered: boolean[]
  /** Per ack: the rows it moved to acked, ascending seq (ackUpTo semantics). */
  acks: DeliveryRow[][]
  posts: PostOutcome[]
}

/** A delivery row with what a `deliver` frame needs of its message, read in one go. */
export interface MailItem {
  delivery: DeliveryRow
  message: MessageRow
  senderName: string
  /** Channel posts: the channel's name. */
  channelName: string | null
  /** Conversation posts: the conversation's kind. */
  conversationKind: 'dm' | 'group' | null
}

/** What both stores write for a message row (internal to the stores). */
export interface MessageInsert {
  id: string; workspaceId: string; agentId: string; channelId: string | null; conversationId: string | null
  text: string; mode: InjectionMode; attachments: unknown[]; threadId: string | null; createdAt: number
}

/** One post's fan-out to its recipients' mailboxes (internal to the stores). */
export interface FanOut {
  workspaceId: string; from: AgentRow; message: MessageRow; recipients: Array<{ id: string; name: string }>
  now: number; ttlMs: number; maxInFlight: number
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
  /**
   * Rows to send to one agent with their messages, ascending seq, at most `limit`: seq above
   * both the ack cursor and `afterSeq`, unexpired; `queued` only, or `queued|delivered` for a replay.
   */
  pendingMail(agentId: string, now: number, afterSeq: number, includeDelivered: boolean, limit: number): MailItem[]
  /**
   * Group commit: every write of `batch` in ONE transaction (one durable commit), each post
   * isolated so its failure rolls back only itself. Durable when it returns.
   */
  commit(batch: MailBatch): MailBatchResult
  /** Agents that have at least one unexpired queued row (re-drive input). */
  agentsWithQueued(now: number): string[]
  /** Agents with rows written to a socket before `deliveredBefore` and still not acked. */
  agentsWithUnackedDelivered(deliveredBefore: number, now: number): string[]
  /** Guarded queued→delivered flip; false if the row moved on meanwhile. */
  markDelivered(deliveryId: string, at: number): boolean
  /** Cumulative ack; returns the rows it moved to acked ([] when the cursor did not rise). */
  ackUpTo(agentId: string, upToSeq: number, at: number): DeliveryRow[]
  /** queued|delivered rows past expires_at → dead_lettered (reason ttl_expired); returns them. */
  expire(now: number): DeliveryRow[]
  inbox(agentId: string): InboxRow

  /** Raises the ack cursor over a leading run of terminal rows (acked/dead) so no gap remains. */
  compactCursor(agentId: string): number
  createGroup(conv: ConversationRow, memberIds: string[]): void
  addConversationMember(conversationId: string, agentId: string, at: number): boolean
  removeConversationMember(conversationId: string, agentId: string): boolean
  conversationMembers(conversationId: string): string[]
  postConversation(input: PostConversationInput): PostChannelResult
  replies(parentId: string, limit: number): MessageRow[]
  replyCount(parentId: string): number
  /** Read receipt + acks that reader's delivery row for the message (single ack, cursor unchanged). */
  markRead(messageId: string, agentId: string, at: number): DeliveryRow | undefined
  readers(messageId: string): Array<{ agentId: string; readAt: number }>
  search(query: SearchQuery): MessageRow[]
  delivery(workspaceId: string, id: string): DeliveryRow | undefined
  deliveriesFor(agentId: string, statuses: readonly string[], limit: number, now: number, afterSeq?: number): DeliveryRow[]
  ackOne(id: string, at: number): DeliveryRow | undefined
  failOne(id: string, at: number, reason: string): DeliveryRow | undefined
  /** Queue again (delivered/failed → queued) so the re-drive resends it. */
  deferOne(id: string): DeliveryRow | undefined
  failuresForMessage(messageId: string): DeliveryFailureRow[]
  /** Rows of one agent above `afterSeq` in seq order, any state but dead_lettered (user replay). */
  deliveriesAfter(agentId: string, afterSeq: number, limit: number): DeliveryRow[]
}

export type InvocationStatus = 'pending' | 'dispatched' | 'completed' | 'failed'

export interface InvocationRow {
  id: string
  workspaceId: string
  actionName: string
  /** `spawn:<cli>` */
  capability: string
  callerId: string | null
  input: Record<string, unknown>
  requestHash: string
  status: InvocationStatus
  /** Explicit target: the invocation stays pinned to this node. */
  targetNodeId: string | null
  dispatchedNodeId: string | null
  attemptedNodeIds: string[]
  dispatchAttempts: number
  /** Capacity is held on dispatchedNodeId. */
  reserved: boolean
  retryAfterAt: number | null
  dispatchedAt: number | null
  output: unknown
  error: string | null
  createdAt: number
  updatedAt: number
  completedAt: number | null
}

export interface InvocationStore {
  get(workspaceId: string, id: string): InvocationRow | undefined
  byId(id: string): InvocationRow | undefined
  /** Insert unless the id exists; returns the stored row and whether it is new. */
  insert(row: InvocationRow): { row: InvocationRow; created: boolean }
  /** Whole-row update guarded by the status the caller read (CAS); false if it moved on. */
  update(row: InvocationRow, expectedStatus: InvocationStatus): boolean
  /** pending rows whose retry time has come (or that have none), oldest first. */
  duePending(now: number): InvocationRow[]
  /** dispatched rows older than `cutoff` (dispatch timeout). */
  dispatchedBefore(cutoff: number): InvocationRow[]
  openOnNode(nodeId: string): InvocationRow[]
  pendingForNode(nodeId: string): InvocationRow[]
  pendingUnpinned(workspaceId: string): InvocationRow[]
}

export interface Store {
  workspaces: WorkspaceStore
  nodes: NodeStore
  agents: AgentStore
  channels: ChannelStore
  mail: MailStore
  invocations: InvocationStore
  close(): void
}

/**
 * Promise-returning mirror of one repository interface: every method keeps its
 * parameters and resolves to what the synchronous method returns. A mapped type, so a
 * method added to a repository above appears here (and must be implemented) too.
 */
export type Promisified<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K]
}

export type AsyncWorkspaceStore = Promisified<WorkspaceStore>
export type AsyncNodeStore = Promisified<NodeStore>
export type AsyncAgentStore = Promisified<AgentStore>
export type AsyncChannelStore = Promisified<ChannelStore>
export type AsyncMailStore = Promisified<MailStore>
export type AsyncInvocationStore = Promisified<InvocationStore>

/**
 * The storage port for stores whose driver is asynchronous (PostgreSQL): the same
 * repositories as `Store`, each method returning a promise; `close()` included.
 */
export type AsyncStore = {
  [K in keyof Store]: Store[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : Promisified<Store[K]>
}
