/** SQLite action invocations: the database row is the queue (engine.md §4.2). */
import type { Database } from 'better-sqlite3'
import { sqliteRows } from './rows'
import { cachedStatement } from './statements'
import type { InvocationRow, InvocationStatus, InvocationStore } from './types'

type Raw = Record<string, unknown>

const { toInvocation } = sqliteRows

export class SqliteInvocations implements InvocationStore {
  constructor(private readonly db: Database) {}

  private stmt(sql: string) {
    return cachedStatement(this.db, sql)
  }

  private many(sql: string, ...args: unknown[]): InvocationRow[] {
    return (this.stmt(sql).all(...args) as Raw[]).map(toInvocation)
  }

  get(workspaceId: string, id: string): InvocationRow | undefined {
    const r = this.stmt('SELECT * FROM action_invocations WHERE workspace_id = ? AND id = ?').get(workspaceId, id) as Raw | undefined
    return r && toInvocation(r)
  }

  byId(id: string): InvocationRow | undefined {
    const r = this.stmt('SELECT * FROM action_invocations WHERE id = ?').get(id) as Raw | undefined
    return r && toInvocation(r)
  }

  insert(row: InvocationRow): { row: InvocationRow; created: boolean } {
    const res = this
      .stmt(
        `INSERT INTO action_invocations (id, workspace_id, action_name, capability, caller_id, input, request_hash, status,
          target_node_id, dispatched_node_id, attempted_node_ids, dispatch_attempts, reserved, retry_after_at, dispatched_at,
          output, error, created_at, updated_at, completed_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(row.id, row.workspaceId, row.actionName, row.capability, row.callerId, JSON.stringify(row.input), row.requestHash,
        row.status, row.targetNodeId, row.dispatchedNodeId, JSON.stringify(row.attemptedNodeIds), row.dispatchAttempts,
        row.reserved ? 1 : 0, row.retryAfterAt, row.dispatchedAt, row.output === null ? null : JSON.stringify(row.output),
        row.error, row.createdAt, row.updatedAt, row.completedAt)
    const stored = this.byId(row.id)
    if (!stored) throw new Error('invocation vanished after insert')
    return { row: stored, created: res.changes > 0 }
  }

  update(row: InvocationRow, expected: InvocationStatus): boolean {
    return this
      .stmt(
        `UPDATE action_invocations SET status = ?, target_node_id = ?, dispatched_node_id = ?, attempted_node_ids = ?,
          dispatch_attempts = ?, reserved = ?, retry_after_at = ?, dispatched_at = ?, output = ?, error = ?, updated_at = ?,
          completed_at = ?
         WHERE id = ? AND status = ?`,
      )
      .run(row.status, row.targetNodeId, row.dispatchedNodeId, JSON.stringify(row.attemptedNodeIds), row.dispatchAttempts,
        row.reserved ? 1 : 0, row.retryAfterAt, row.dispatchedAt, row.output === null || row.output === undefined ? null : JSON.stringify(row.output),
        row.error, row.updatedAt, row.completedAt, row.id, expected).changes > 0
  }

  duePending(now: number): InvocationRow[] {
    return this.many("SELECT * FROM action_invocations WHERE status = 'pending' AND (retry_after_at IS NULL OR retry_after_at <= ?) ORDER BY created_at LIMIT 500", now)
  }

  dispatchedBefore(cutoff: number): InvocationRow[] {
    return this.many("SELECT * FROM action_invocations WHERE status = 'dispatched' AND dispatched_at < ? ORDER BY dispatched_at LIMIT 500", cutoff)
  }

  openOnNode(nodeId: string): InvocationRow[] {
    return this.many("SELECT * FROM action_invocations WHERE dispatched_node_id = ? AND status = 'dispatched' ORDER BY created_at", nodeId)
  }

  pendingForNode(nodeId: string): InvocationRow[] {
    return this.many("SELECT * FROM action_invocations WHERE target_node_id = ? AND status = 'pending' ORDER BY created_at", nodeId)
  }

  pendingUnpinned(workspaceId: string): InvocationRow[] {
    return this.many("SELECT * FROM action_invocations WHERE workspace_id = ? AND target_node_id IS NULL AND status = 'pending' ORDER BY created_at LIMIT 500", workspaceId)
  }
}
