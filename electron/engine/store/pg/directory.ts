/**
 * PostgreSQL repositories for the "directory" tables: workspaces, nodes, agents,
 * channels. Same statements and guards as sqlite-directory.ts; multi-statement writes
 * run in one transaction, and the guarded counters (node reservations) are single
 * conditional UPDATEs, which PostgreSQL re-checks against the latest row version when
 * two instances update the same row at once.
 */
import type { Pool } from 'pg'
import type {
  AgentRow, AsyncAgentStore, AsyncChannelStore, AsyncNodeStore, AsyncWorkspaceStore, ChannelRow, NewNode,
  NodeEnrolPatch, NodeHeartbeatPatch, NodeRegisterPatch, NodeRow, WorkspaceRow,
} from '../types'
import { changes, one, rows, tx } from './db'
import { jsonb, toAgent, toChannel, toNode, toWorkspace } from './rows'

export class PgWorkspaces implements AsyncWorkspaceStore {
  constructor(private readonly pool: Pool) {}

  async create(ws: WorkspaceRow, keyHash: string, general: ChannelRow): Promise<void> {
    await tx(this.pool, async (c) => {
      await c.query('INSERT INTO workspaces (id, name, key_hash, created_at) VALUES ($1, $2, $3, $4)', [ws.id, ws.name, keyHash, ws.createdAt])
      await c.query('INSERT INTO channels (id, workspace_id, name, topic, created_at) VALUES ($1, $2, $3, $4, $5)',
        [general.id, general.workspaceId, general.name, general.topic, general.createdAt])
    })
  }

  async get(id: string): Promise<WorkspaceRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM workspaces WHERE id = $1', [id])
    return r && toWorkspace(r)
  }

  async byKeyHash(keyHash: string): Promise<WorkspaceRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM workspaces WHERE key_hash = $1', [keyHash])
    return r && toWorkspace(r)
  }
}

export class PgNodes implements AsyncNodeStore {
  constructor(private readonly pool: Pool) {}

  private async one(sql: string, params: unknown[]): Promise<NodeRow | undefined> {
    const r = await one(this.pool, sql, params)
    return r && toNode(r)
  }

  get(id: string) { return this.one('SELECT * FROM nodes WHERE id = $1', [id]) }
  byName(workspaceId: string, name: string) { return this.one('SELECT * FROM nodes WHERE workspace_id = $1 AND name = $2', [workspaceId, name]) }
  byMachineId(workspaceId: string, machineId: string) {
    return this.one("SELECT * FROM nodes WHERE workspace_id = $1 AND machine_id = $2 AND role = 'broker' ORDER BY created_at LIMIT 1", [workspaceId, machineId])
  }
  byTokenHash(tokenHash: string) { return this.one('SELECT * FROM nodes WHERE token_hash = $1', [tokenHash]) }

  async list(workspaceId: string): Promise<NodeRow[]> {
    return (await rows(this.pool, 'SELECT * FROM nodes WHERE workspace_id = $1 ORDER BY name', [workspaceId])).map(toNode)
  }

  async insert(n: NewNode): Promise<void> {
    await this.pool.query(
      `INSERT INTO nodes (id, workspace_id, name, kind, role, version, machine_id, capabilities, tags, max_agents,
        delivery_adapter, status, handlers_live, load, active_agents, last_heartbeat_at, token_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, 'offline', false, NULL, 0, NULL, $12, $13)`,
      [n.id, n.workspaceId, n.name, n.kind, n.role, n.version, n.machineId, jsonb(n.capabilities), jsonb(n.tags), n.maxAgents,
        n.deliveryAdapter, n.tokenHash, n.createdAt],
    )
  }

  async reenrol(id: string, p: NodeEnrolPatch): Promise<void> {
    await this.pool.query(
      `UPDATE nodes SET name = $1, kind = $2, role = $3, version = $4, machine_id = $5, capabilities = $6::jsonb, tags = $7::jsonb,
        max_agents = $8, delivery_adapter = $9, token_hash = $10, status = 'offline', handlers_live = false WHERE id = $11`,
      [p.name, p.kind, p.role, p.version, p.machineId, jsonb(p.capabilities), jsonb(p.tags), p.maxAgents, p.deliveryAdapter, p.tokenHash, id],
    )
  }

  async markRegistered(id: string, p: NodeRegisterPatch): Promise<void> {
    await tx(this.pool, async (c) => {
      await c.query(
        `UPDATE nodes SET name = $1, version = $2, machine_id = COALESCE($3, machine_id), capabilities = $4::jsonb, tags = $5::jsonb,
          max_agents = $6, status = 'online', last_heartbeat_at = $7, socket_id = $9 WHERE id = $8`,
        [p.name, p.version, p.machineId, jsonb(p.capabilities), jsonb(p.tags), p.maxAgents, p.at, id, p.socketId ?? null],
      )
      // Agents still bound to the node come back with it (see the SQLite store).
      await c.query("UPDATE agents SET status = 'active' WHERE node_id = $1 AND status = 'offline' AND revoked_at IS NULL", [id])
    })
  }

  async heartbeat(id: string, p: NodeHeartbeatPatch): Promise<void> {
    await this.pool.query(
      `UPDATE nodes SET last_heartbeat_at = $1, load = COALESCE($2, load), active_agents = $3, handlers_live = $4,
        capabilities = COALESCE($5::jsonb, capabilities), max_agents = COALESCE($6, max_agents), version = COALESCE($7, version)
       WHERE id = $8`,
      [p.at, p.load ?? null, p.activeAgents, p.handlersLive, jsonb(p.capabilities), p.maxAgents ?? null, p.version ?? null, id],
    )
  }

  async setOffline(id: string): Promise<void> {
    await this.pool.query("UPDATE nodes SET status = 'offline' WHERE id = $1", [id])
  }

  async setHandlersLive(id: string, live: boolean): Promise<void> {
    await this.pool.query('UPDATE nodes SET handlers_live = $1 WHERE id = $2', [live, id])
  }

  /**
   * Every node offline, as in SQLite. Not called by an engine on PostgreSQL: other
   * instances' sockets are up (a dead instance's nodes go offline by the liveness sweep).
   */
  async resetAllOffline(): Promise<void> {
    await this.pool.query("UPDATE nodes SET status = 'offline', handlers_live = false")
  }

  async delete(id: string): Promise<void> {
    await tx(this.pool, async (c) => {
      await c.query("UPDATE agents SET node_id = NULL, status = 'offline' WHERE node_id = $1", [id])
      await c.query('DELETE FROM nodes WHERE id = $1', [id])
    })
  }

  async staleOnline(cutoff: number): Promise<NodeRow[]> {
    return (await rows(this.pool, "SELECT * FROM nodes WHERE status = 'online' AND (last_heartbeat_at IS NULL OR last_heartbeat_at < $1)", [cutoff])).map(toNode)
  }

  async markLost(id: string, guard: { socketId?: string; heartbeatBefore?: number } = {}): Promise<boolean> {
    return tx(this.pool, async (c) => {
      // The guards are re-checked on the newest row version if another instance's register or
      // heartbeat holds the row: one that committed first wins.
      const changed = (await c.query(
        `UPDATE nodes SET status = 'offline', handlers_live = false WHERE id = $1 AND ($2::text IS NULL OR socket_id IS NOT DISTINCT FROM $2)
           AND ($3::bigint IS NULL OR last_heartbeat_at IS NULL OR last_heartbeat_at < $3)`,
        [id, guard.socketId ?? null, guard.heartbeatBefore ?? null],
      )).rowCount ?? 0
      if (changed === 0) return false
      await c.query("UPDATE agents SET status = 'offline' WHERE node_id = $1 AND status = 'active'", [id])
      return true
    })
  }

  /** One conditional UPDATE: concurrent reservers queue on the row and each re-checks the room left. */
  async reserve(id: string): Promise<boolean> {
    return (await changes(this.pool,
      `UPDATE nodes SET reserved_agents = reserved_agents + 1
       WHERE id = $1 AND (max_agents = 0 OR active_agents + reserved_agents < max_agents)`, [id])) > 0
  }

  async release(id: string): Promise<void> {
    await this.pool.query('UPDATE nodes SET reserved_agents = GREATEST(0, reserved_agents - 1) WHERE id = $1', [id])
  }
}

export class PgAgents implements AsyncAgentStore {
  constructor(private readonly pool: Pool) {}

  private async one(sql: string, params: unknown[]): Promise<AgentRow | undefined> {
    const r = await one(this.pool, sql, params)
    return r && toAgent(r)
  }

  get(id: string) { return this.one('SELECT * FROM agents WHERE id = $1', [id]) }
  byName(workspaceId: string, name: string) { return this.one('SELECT * FROM agents WHERE workspace_id = $1 AND name = $2', [workspaceId, name]) }
  byTokenHash(tokenHash: string) { return this.one('SELECT * FROM agents WHERE token_hash = $1', [tokenHash]) }

  async list(workspaceId: string): Promise<AgentRow[]> {
    return (await rows(this.pool, 'SELECT * FROM agents WHERE workspace_id = $1 ORDER BY name', [workspaceId])).map(toAgent)
  }

  async listOnNode(nodeId: string): Promise<AgentRow[]> {
    return (await rows(this.pool, 'SELECT * FROM agents WHERE node_id = $1 ORDER BY name', [nodeId])).map(toAgent)
  }

  async insert(a: AgentRow, tokenHash: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO agents (id, workspace_id, name, type, status, metadata, token_hash, node_id, delivery_seq, delivery_ack_seq,
        origin_node_id, last_seen_at, wire_seq_base, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [a.id, a.workspaceId, a.name, a.type, a.status, jsonb(a.metadata) ?? '{}', tokenHash, a.nodeId, a.deliverySeq, a.deliveryAckSeq,
        a.originNodeId, a.lastSeenAt, a.wireSeqBase, a.createdAt],
    )
  }

  async setToken(id: string, tokenHash: string): Promise<void> {
    await this.pool.query('UPDATE agents SET token_hash = $1, revoked_at = NULL WHERE id = $2', [tokenHash, id])
  }

  async assume(id: string, nodeId: string, tokenHash: string): Promise<void> {
    await this.pool.query(
      "UPDATE agents SET token_hash = $1, node_id = $2, status = 'active', revoked_at = NULL, origin_node_id = COALESCE(origin_node_id, $2) WHERE id = $3",
      [tokenHash, nodeId, id],
    )
  }

  recover(id: string, nodeId: string, tokenHash: string): Promise<void> {
    return this.assume(id, nodeId, tokenHash)
  }

  async revoke(id: string, at: number): Promise<void> {
    // token_hash is UNIQUE NOT NULL: an unmatchable per-agent value (never a SHA-256 hex).
    await this.pool.query('UPDATE agents SET token_hash = $1, revoked_at = $2 WHERE id = $3', [`revoked:${id}:${at}`, at, id])
  }

  async setWireSeqBase(id: string, base: number): Promise<void> {
    await this.pool.query('UPDATE agents SET wire_seq_base = $1 WHERE id = $2', [base, id])
  }

  async touch(id: string, at: number): Promise<void> {
    await this.pool.query('UPDATE agents SET last_seen_at = $1 WHERE id = $2', [at, id])
  }

  async bind(id: string, nodeId: string | null, status: AgentRow['status']): Promise<void> {
    await this.pool.query('UPDATE agents SET node_id = $1, status = $2 WHERE id = $3', [nodeId, status, id])
  }

  async setStatus(id: string, status: AgentRow['status']): Promise<void> {
    await this.pool.query('UPDATE agents SET status = $1 WHERE id = $2', [status, id])
  }

  async pendingCount(id: string, now: number): Promise<number> {
    const r = await one<{ n: number }>(this.pool,
      `SELECT COUNT(*) AS n FROM deliveries d JOIN agents a ON a.id = d.agent_id
       WHERE d.agent_id = $1 AND d.status IN ('queued', 'delivered') AND d.seq > a.delivery_ack_seq AND d.expires_at > $2`, [id, now])
    return Number(r?.n ?? 0)
  }
}

export class PgChannels implements AsyncChannelStore {
  constructor(private readonly pool: Pool) {}

  async memberOf(agentId: string): Promise<ChannelRow[]> {
    return (await rows(this.pool,
      'SELECT c.* FROM channel_members m JOIN channels c ON c.id = m.channel_id WHERE m.agent_id = $1 ORDER BY c.name', [agentId])).map(toChannel)
  }

  async get(id: string): Promise<ChannelRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM channels WHERE id = $1', [id])
    return r && toChannel(r)
  }

  async byName(workspaceId: string, name: string): Promise<ChannelRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM channels WHERE workspace_id = $1 AND name = $2', [workspaceId, name])
    return r && toChannel(r)
  }

  async list(workspaceId: string): Promise<Array<ChannelRow & { memberCount: number }>> {
    const rs = await rows(this.pool,
      `SELECT c.*, (SELECT COUNT(*) FROM channel_members m WHERE m.channel_id = c.id) AS member_count
       FROM channels c WHERE c.workspace_id = $1 ORDER BY c.name`, [workspaceId])
    return rs.map((r) => ({ ...toChannel(r), memberCount: Number(r.member_count) }))
  }

  async insert(ch: ChannelRow): Promise<void> {
    await this.pool.query('INSERT INTO channels (id, workspace_id, name, topic, created_at) VALUES ($1, $2, $3, $4, $5)',
      [ch.id, ch.workspaceId, ch.name, ch.topic, ch.createdAt])
  }

  async join(channelId: string, agentId: string, at: number): Promise<boolean> {
    return (await changes(this.pool,
      'INSERT INTO channel_members (channel_id, agent_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [channelId, agentId, at])) > 0
  }

  async leave(channelId: string, agentId: string): Promise<boolean> {
    return (await changes(this.pool, 'DELETE FROM channel_members WHERE channel_id = $1 AND agent_id = $2', [channelId, agentId])) > 0
  }

  async members(channelId: string): Promise<Array<{ agent: AgentRow; joinedAt: number }>> {
    const rs = await rows(this.pool,
      `SELECT a.*, m.joined_at AS member_joined_at FROM channel_members m JOIN agents a ON a.id = m.agent_id
       WHERE m.channel_id = $1 ORDER BY a.name`, [channelId])
    return rs.map((r) => ({ agent: toAgent(r), joinedAt: Number(r.member_joined_at) }))
  }

  async isMember(channelId: string, agentId: string): Promise<boolean> {
    return (await one(this.pool, 'SELECT 1 FROM channel_members WHERE channel_id = $1 AND agent_id = $2', [channelId, agentId])) !== undefined
  }
}
