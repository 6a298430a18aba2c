/**
 * The PostgreSQL connection layer: one pg.Pool per store, BIGINT/COUNT parsed as JS
 * numbers (epoch ms and seqs stay far below 2^53), and transactions on a client checked
 * out of the pool, retried when PostgreSQL aborts them for a deadlock or a
 * serialization failure (the transaction did nothing then, so running it again is safe).
 */
import pg from 'pg'
import type { Pool, PoolClient, QueryResultRow } from 'pg'

export type Raw = Record<string, unknown>
/** A pool (one statement, autocommit) or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | PoolClient

const INT8_OID = 20

export interface PgPoolOptions {
  /** Most connections this instance opens (default 10). */
  max?: number
  /** Idle/background client errors (a server restart, a killed backend). Default: ignored; the next query reports it. */
  onError?: (err: Error) => void
}

export function createPool(connectionString: string, opts: PgPoolOptions = {}): Pool {
  const types = new pg.TypeOverrides()
  types.setTypeParser(INT8_OID, (v: string) => Number(v))
  const pool = new pg.Pool({ connectionString, max: opts.max ?? 10, types, application_name: 'relay-engine' })
  // An idle client's error is emitted on the pool; unhandled it would kill the process.
  pool.on('error', (err) => opts.onError?.(err))
  return pool
}

/** deadlock_detected, serialization_failure: PostgreSQL rolled the transaction back; it may be re-run. */
const RETRYABLE = new Set(['40P01', '40001'])
const MAX_ATTEMPTS = 5

export function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has(String((err as { code?: unknown }).code))
}

export async function rows<T extends QueryResultRow = Raw>(db: Queryable, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.query<T>(sql, params)).rows
}

export async function one<T extends QueryResultRow = Raw>(db: Queryable, sql: string, params: unknown[] = []): Promise<T | undefined> {
  return (await db.query<T>(sql, params)).rows[0]
}

/** Rows changed by an INSERT/UPDATE/DELETE. */
export async function changes(db: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  return (await db.query(sql, params)).rowCount ?? 0
}

/**
 * Transactions/statements re-run after a deadlock or serialization failure, since start.
 * The lock ordering is meant to make these rare: a growing count is worth a look.
 */
export const retryStats = { retried: 0 }

/** One statement (or transaction) re-run when PostgreSQL aborted it for a deadlock. */
export async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) throw err
      retryStats.retried++
    }
  }
}

/**
 * BEGIN … COMMIT on one pooled client. `fn` must keep its effects inside the
 * transaction (it may run more than once); its result is returned after COMMIT.
 */
export async function tx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  return retrying(async () => {
    const c = await pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN')
      const result = await fn(c)
      await c.query('COMMIT')
      return result
    } catch (err) {
      try {
        await c.query('ROLLBACK')
      } catch (rollbackErr) {
        // The connection is unusable: drop it from the pool instead of reusing it.
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr))
      }
      throw err
    } finally {
      c.release(broken)
    }
  })
}
