/**
 * SQLite repositories for the "directory" tables: workspaces, nodes, agents,
 * channels. Mail (messages + deliveries) lives in sqlite-mail.ts.
 */
import type { Database } from 'better-sqlite3'
import { sqliteRows } from './rows'
import { cachedStatement } from './statements'
import type {
  AgentRow, AgentStore, ChannelRow, ChannelStore, NewNode, NodeEnrolPatch,
  NodeHeartbeatPatch, NodeRegisterPatch, NodeRow, NodeStore, WorkspaceRow, WorkspaceStore,
} from './types'

type Raw = Record<string, unknown>

const { toWorkspace, toNode, toAgent, toChannel } = sqliteRows

export class SqliteWorkspaces implements WorkspaceStore {
  constructor(private readonly db: Database) {}

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  create(ws: WorkspaceRow, keyHash: string, general: ChannelRow): void {
    this.db.transaction(() => {
      this.stmt('INSERT INTO workspaces (id, name, key_hash, created_at) VALUES (?, ?, ?, ?)').run(ws.id, ws.name, keyHash, ws.createdAt)
      this
      .stmt('INSERT INTO channels (id, workspace_id, name, topic, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(general.id, general.workspaceId, general.name, general.topic, general.createdAt)
    })()
  }

  get(id: string): WorkspaceRow | undefined {
    const r = this.stmt('SELECT * FROM workspaces WHERE id = ?').get(id) as Raw | undefined
    return r && toWorkspace(r)
  }

  byKeyHash(keyHash: string): WorkspaceRow | undefined {
    const r = this.stmt('SELECT * FROM workspaces WHERE key_hash = ?').get(keyHash) as Raw | undefined
    return r && toWorkspace(r)
  }
}

export class SqliteNodes implements NodeStore {
  constructor(private readonly db: Database) {}

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  private one(sql: string, ...args: unknown[]): NodeRow | undefined {
    const r = this.stmt(sql).get(...args) as Raw | undefined
    return r && toNode(r)
  }

  get(id: string) { return this.one('SELECT * FROM nodes WHERE id = ?', id) }
  byName(workspaceId: string, name: string) { return this.one('SELECT * FROM nodes WHERE workspace_id = ? AND name = ?', workspaceId, name) }
  byMachineId(workspaceId: string, machineId: string) {
    return this.one("SELECT * FROM nodes WHERE workspace_id = ? AND machine_id = ? AND role = 'broker' ORDER BY created_at LIMIT 1", workspaceId, machineId)
  }
  byTokenHash(tokenHash: string) { return this.one('SELECT * FROM nodes WHERE token_hash = ?', tokenHash) }

  list(workspaceId: string): NodeRow[] {
    return (this.stmt('SELECT * FROM nodes WHERE workspace_id = ? ORDER BY name').all(workspaceId) as Raw[]).map(toNode)
  }

  insert(n: NewNode): void {
    this
      .stmt(
        `INSERT INTO nodes (id, workspace_id, name, kind, role, version, machine_id, capabilities, tags, max_agents,
          delivery_adapter, status, handlers_live, load, active_agents, last_heartbeat_at, token_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'offline', 0, NULL, 0, NULL, ?, ?)`,
      )
      .run(n.id, n.workspaceId, n.name, n.kind, n.role, n.version, n.machineId, JSON.stringify(n.capabilities),
        JSON.stringify(n.tags), n.maxAgents, n.deliveryAdapter, n.tokenHash, n.createdAt)
  }

  reenrol(id: string, p: NodeEnrolPatch): void {
    this
      .stmt(
        `UPDATE nodes SET name = ?, kind = ?, role = ?, version = ?, machine_id = ?, capabilities = ?, tags = ?,
          max_agents = ?, delivery_adapter = ?, token_hash = ?, status = 'offline', handlers_live = 0 WHERE id = ?`,
      )
      .run(p.name, p.kind, p.role, p.version, p.machineId, JSON.stringify(p.capabilities), JSON.stringify(p.tags),
        p.maxAgents, p.deliveryAdapter, p.tokenHash, id)
  }

  markRegistered(id: string, p: NodeRegisterPatch): void {
    this.db.transaction(() => {
      this
        .stmt(
          `UPDATE nodes SET name = ?, version = ?, machine_id = COALESCE(?, machine_id), capabilities = ?, tags = ?,
            max_agents = ?, status = 'online', last_heartbeat_at = ?, socket_id = ? WHERE id = ?`,
        )
        .run(p.name, p.version, p.machineId, JSON.stringify(p.capabilities), JSON.stringify(p.tags), p.maxAgents, p.at, p.socketId ?? null, id)
      // Agents still bound to the node were taken offline with its socket (markLost); a released
      // one is unbound (node_id NULL). A broker that reconnects re-sends node.register and may
      // never re-send agent.register (the upstream broker does not), so they come back here.
      this.stmt("UPDATE agents SET status = 'active' WHERE node_id = ? AND status = 'offline' AND revoked_at IS NULL").run(id)
    })()
  }

  heartbeat(id: string, p: NodeHeartbeatPatch): void {
    this
      .stmt(
        `UPDATE nodes SET last_heartbeat_at = ?, load = COALESCE(?, load), active_agents = ?, handlers_live = ?,
          capabilities = COALESCE(?, capabilities), max_agents = COALESCE(?, max_agents), version = COALESCE(?, version)
         WHERE id = ?`,
      )
      .run(p.at, p.load ?? null, p.activeAgents, p.handlersLive ? 1 : 0,
        p.capabilities ? JSON.stringify(p.capabilities) : null, p.maxAgents ?? null, p.version ?? null, id)
  }

  setOffline(id: string): void {
    this.stmt("UPDATE nodes SET status = 'offline' WHERE id = ?").run(id)
  }

  setHandlersLive(id: string, live: boolean): void {
    this.stmt('UPDATE nodes SET handlers_live = ? WHERE id = ?').run(live ? 1 : 0, id)
  }

  resetAllOffline(): void {
    this.stmt("UPDATE nodes SET status = 'offline', handlers_live = 0").run()
  }

  delete(id: string): void {
    this.db.transaction(() => {
      this.stmt("UPDATE agents SET node_id = NULL, status = 'offline' WHERE node_id = ?").run(id)
      this.stmt('DELETE FROM nodes WHERE id = ?').run(id)
    })()
  }

  staleOnline(cutoff: number): NodeRow[] {
    return (this
      .stmt("SELECT * FROM nodes WHERE status = 'online' AND (last_heartbeat_at IS NULL OR last_heartbeat_at < ?)")
      .all(cutoff) as Raw[]).map(toNode)
  }

  markLost(id: string, guard: { socketId?: string; heartbeatBefore?: number } = {}): boolean {
    const socketId = guard.socketId ?? null
    const before = guard.heartbeatBefore ?? null
    return this.db.transaction(() => {
      const changed = this
        .stmt(
          `UPDATE nodes SET status = 'offline', handlers_live = 0 WHERE id = ? AND (? IS NULL OR socket_id IS ?)
             AND (? IS NULL OR last_heartbeat_at IS NULL OR last_heartbeat_at < ?)`,
        )
        .run(id, socketId, socketId, before, before).changes
      if (changed === 0) return false
      this.stmt("UPDATE agents SET status = 'offline' WHERE node_id = ? AND status = 'active'").run(id)
      return true
    })()
  }

  reserve(id: string): boolean {
    return this
      .stmt(
        `UPDATE nodes SET reserved_agents = reserved_agents + 1
         WHERE id = ? AND (max_agents = 0 OR active_agents + reserved_agents < max_agents)`,
      )
      .run(id).changes > 0
  }

  release(id: string): void {
    this.stmt('UPDATE nodes SET reserved_agents = MAX(0, reserved_agents - 1) WHERE id = ?').run(id)
  }
}

export class SqliteAgents implements AgentStore {
  constructor(private readonly db: Database) {}

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  private one(sql: string, ...args: unknown[]): AgentRow | undefined {
    const r = this.stmt(sql).get(...args) as Raw | undefined
    return r && toAgent(r)
  }

  get(id: string) { return this.one('SELECT * FROM agents WHERE id = ?', id) }
  byName(workspaceId: string, name: string) { return this.one('SELECT * FROM agents WHERE workspace_id = ? AND name = ?', workspaceId, name) }
  byTokenHash(tokenHash: string) { return this.one('SELECT * FROM agents WHERE token_hash = ?', tokenHash) }

  list(workspaceId: string): AgentRow[] {
    return (this.stmt('SELECT * FROM agents WHERE workspace_id = ? ORDER BY name').all(workspaceId) as Raw[]).map(toAgent)
  }

  listOnNode(nodeId: string): AgentRow[] {
    return (this.stmt('SELECT * FROM agents WHERE node_id = ? ORDER BY name').all(nodeId) as Raw[]).map(toAgent)
  }

  insert(a: AgentRow, tokenHash: string): void {
    this
      .stmt(
        `INSERT INTO agents (id, workspace_id, name, type, status, metadata, token_hash, node_id, delivery_seq, delivery_ack_seq,
          origin_node_id, last_seen_at, wire_seq_base, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(a.id, a.workspaceId, a.name, a.type, a.status, JSON.stringify(a.metadata), tokenHash, a.nodeId,
        a.deliverySeq, a.deliveryAckSeq, a.originNodeId, a.lastSeenAt, a.wireSeqBase, a.createdAt)
  }

  setToken(id: string, tokenHash: string): void {
    this.stmt('UPDATE agents SET token_hash = ?, revoked_at = NULL WHERE id = ?').run(tokenHash, id)
  }

  assume(id: string, nodeId: string, tokenHash: string): void {
    this
      .stmt("UPDATE agents SET token_hash = ?, node_id = ?, status = 'active', revoked_at = NULL, origin_node_id = COALESCE(origin_node_id, ?) WHERE id = ?")
      .run(tokenHash, nodeId, nodeId, id)
  }

  recover(id: string, nodeId: string, tokenHash: string): void {
    this.assume(id, nodeId, tokenHash)
  }

  revoke(id: string, at: number): void {
    // token_hash is UNIQUE NOT NULL: an unmatchable per-agent value (never a SHA-256 hex).
    this.stmt('UPDATE agents SET token_hash = ?, revoked_at = ? WHERE id = ?').run(`revoked:${id}:${at}`, at, id)
  }

  setWireSeqBase(id: string, base: number): void {
    this.stmt('UPDATE agents SET wire_seq_base = ? WHERE id = ?').run(base, id)
  }

  touch(id: string, at: number): void {
    this.stmt('UPDATE agents SET last_seen_at = ? WHERE id = ?').run(at, id)
  }

  bind(id: string, nodeId: string | null, status: AgentRow['status']): void {
    this.stmt('UPDATE agents SET node_id = ?, status = ? WHERE id = ?').run(nodeId, status, id)
  }

  setStatus(id: string, status: AgentRow['status']): void {
    this.stmt('UPDATE agents SET status = ? WHERE id = ?').run(status, id)
  }

  pendingCount(id: string, now: number): number {
    const r = this
      .stmt(
        `SELECT COUNT(*) AS n FROM deliveries
         WHERE agent_id = ? AND seq > (SELECT delivery_ack_seq FROM agents WHERE id = ?) AND status IN ('queued', 'delivered') AND expires_at > ?`,
      )
      .get(id, id, now) as { n: number }
    return r.n
  }
}

export class SqliteChannels implements ChannelStore {
  constructor(private readonly db: Database) {}

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  memberOf(agentId: string): ChannelRow[] {
    return (this
      .stmt('SELECT c.* FROM channel_members m JOIN channels c ON c.id = m.channel_id WHERE m.agent_id = ? ORDER BY c.name')
      .all(agentId) as Raw[]).map(toChannel)
  }

  get(id: string): ChannelRow | undefined {
    const r = this.stmt('SELECT * FROM channels WHERE id = ?').get(id) as Raw | undefined
    return r && toChannel(r)
  }

  byName(workspaceId: string, name: string): ChannelRow | undefined {
    const r = this.stmt('SELECT * FROM channels WHERE workspace_id = ? AND name = ?').get(workspaceId, name) as Raw | undefined
    return r && toChannel(r)
  }

  list(workspaceId: string): Array<ChannelRow & { memberCount: number }> {
    const rows = this
      .stmt(
        `SELECT c.*, (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = c.id) AS member_count
         FROM channels c WHERE c.workspace_id = ? ORDER BY c.name`,
      )
      .all(workspaceId) as Raw[]
    return rows.map((r) => ({ ...toChannel(r), memberCount: Number(r.member_count) }))
  }

  insert(ch: ChannelRow): void {
    this
      .stmt('INSERT INTO channels (id, workspace_id, name, topic, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(ch.id, ch.workspaceId, ch.name, ch.topic, ch.createdAt)
  }

  join(channelId: string, agentId: string, at: number): boolean {
    const r = this
      .stmt('INSERT INTO channel_members (channel_id, agent_id, joined_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
      .run(channelId, agentId, at)
    return r.changes > 0
  }

  leave(channelId: string, agentId: string): boolean {
    return this.stmt('DELETE FROM channel_members WHERE channel_id = ? AND agent_id = ?').run(channelId, agentId).changes > 0
  }

  members(channelId: string): Array<{ agent: AgentRow; joinedAt: number }> {
    const rows = this
      .stmt(
        `SELECT a.*, m.joined_at AS member_joined_at FROM channel_members m JOIN agents a ON a.id = m.agent_id
         WHERE m.channel_id = ? ORDER BY a.name`,
      )
      .all(channelId) as Raw[]
    return rows.map((r) => ({ agent: toAgent(r), joinedAt: Number(r.member_joined_at) }))
  }

  isMember(channelId: string, agentId: string): boolean {
    return this.stmt('SELECT 1 FROM channel_members WHERE channel_id = ? AND agent_id = ?').get(channelId, agentId) !== undefined
  }
}
