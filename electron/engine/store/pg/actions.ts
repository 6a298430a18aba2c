/**
 * PostgreSQL action invocations: the database row is the queue (engine.md §4.2).
 * `insert` is idempotent on the id (Idempotency-Key ids are derived): with two instances
 * inserting the same id at once, ON CONFLICT makes the second wait for the first and
 * report `created: false` with the winner's row. `update` is a compare-and-set on status.
 */
import type { Pool } from 'pg'
import type { AsyncInvocationStore, InvocationRow, InvocationStatus } from '../types'
import { changes, one, rows } from './db'
import { jsonb, toInvocation } from './rows'

export class PgInvocations implements AsyncInvocationStore {
  constructor(private readonly pool: Pool) {}

  private async many(sql: string, params: unknown[]): Promise<InvocationRow[]> {
    return (await rows(this.pool, sql, params)).map(toInvocation)
  }

  async get(workspaceId: string, id: string): Promise<InvocationRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM action_invocations WHERE workspace_id = $1 AND id = $2', [workspaceId, id])
    return r && toInvocation(r)
  }

  async byId(id: string): Promise<InvocationRow | undefined> {
    const r = await one(this.pool, 'SELECT * FROM action_invocations WHERE id = $1', [id])
    return r && toInvocation(r)
  }

  async insert(row: InvocationRow): Promise<{ row: InvocationRow; created: boolean }> {
    const inserted = await one(this.pool,
      `INSERT INTO action_invocations (id, workspace_id, action_name, capability, caller_id, input, request_hash, status,
        target_node_id, dispatched_node_id, attempted_node_ids, dispatch_attempts, reserved, retry_after_at, dispatched_at,
        output, error, created_at, updated_at, completed_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16::jsonb, $17, $18, $19, $20)
       ON CONFLICT (id) DO NOTHING RETURNING *`,
      [row.id, row.workspaceId, row.actionName, row.capability, row.callerId, jsonb(row.input) ?? '{}', row.requestHash, row.status,
        row.targetNodeId, row.dispatchedNodeId, jsonb(row.attemptedNodeIds) ?? '[]', row.dispatchAttempts, row.reserved, row.retryAfterAt,
        row.dispatchedAt, jsonb(row.output), row.error, row.createdAt, row.updatedAt, row.completedAt])
    if (inserted) return { row: toInvocation(inserted), created: true }
    const stored = await this.byId(row.id)
    if (!stored) throw new Error('invocation vanished after insert')
    return { row: stored, created: false }
  }

  async update(row: InvocationRow, expected: InvocationStatus): Promise<boolean> {
    return (await changes(this.pool,
      `UPDATE action_invocations SET status = $1, target_node_id = $2, dispatched_node_id = $3, attempted_node_ids = $4::jsonb,
        dispatch_attempts = $5, reserved = $6, retry_after_at = $7, dispatched_at = $8, output = $9::jsonb, error = $10, updated_at = $11,
        completed_at = $12
       WHERE id = $13 AND status = $14`,
      [row.status, row.targetNodeId, row.dispatchedNodeId, jsonb(row.attemptedNodeIds) ?? '[]', row.dispatchAttempts, row.reserved,
        row.retryAfterAt, row.dispatchedAt, jsonb(row.output), row.error, row.updatedAt, row.completedAt, row.id, expected])) > 0
  }

  duePending(now: number): Promise<InvocationRow[]> {
    return this.many("SELECT * FROM action_invocations WHERE status = 'pending' AND (retry_after_at IS NULL OR retry_after_at <= $1) ORDER BY created_at LIMIT 500", [now])
  }

  dispatchedBefore(cutoff: number): Promise<InvocationRow[]> {
    return this.many("SELECT * FROM action_invocations WHERE status = 'dispatched' AND dispatched_at < $1 ORDER BY dispatched_at LIMIT 500", [cutoff])
  }

  openOnNode(nodeId: string): Promise<InvocationRow[]> {
    return this.many("SELECT * FROM action_invocations WHERE dispatched_node_id = $1 AND status = 'dispatched' ORDER BY created_at", [nodeId])
  }

  pendingForNode(nodeId: string): Promise<InvocationRow[]> {
    return this.many("SELECT * FROM action_invocations WHERE target_node_id = $1 AND status = 'pending' ORDER BY created_at", [nodeId])
  }

  pendingUnpinned(workspaceId: string): Promise<InvocationRow[]> {
    return this.many("SELECT * FROM action_invocations WHERE workspace_id = $1 AND target_node_id IS NULL AND status = 'pending' ORDER BY created_at LIMIT 500", [workspaceId])
  }
}
