/**
 * PostgreSQL implementation of the storage port, for several engine instances sharing
 * one database. Async (pg is), so it implements AsyncStore, the promise-returning mirror
 * of Store. One pg.Pool per store; transactions check a client out of it.
 *
 *   const store = await openPgStore('postgres://user@host:5432/relay')
 *
 * What keeps instances from corrupting each other lives in the SQL (see mail.ts and
 * directory.ts): row locks on the recipients of a post, guarded UPDATE … RETURNING for
 * every state change, ON CONFLICT for idempotent inserts, an advisory lock around
 * migrations.
 */
import type { Pool } from 'pg'
import type { AsyncStore } from '../types'
import { createPool, type PgPoolOptions } from './db'
import { migratePg, type MigrationResult } from './migrations'
import { PgAgents, PgChannels, PgNodes, PgWorkspaces } from './directory'
import { PgMail } from './mail'
import { PgInvocations } from './actions'

export { migratePg, PG_MIGRATIONS, MIGRATION_LOCK_KEY, type MigrationResult } from './migrations'
export { createPool, retryStats, type PgPoolOptions } from './db'

export class PgStore implements AsyncStore {
  readonly workspaces: PgWorkspaces
  readonly nodes: PgNodes
  readonly agents: PgAgents
  readonly channels: PgChannels
  readonly mail: PgMail
  readonly invocations: PgInvocations
  /** What openPgStore's migration run did (undefined when it did not migrate). */
  migration: MigrationResult | undefined
  private closed: Promise<void> | undefined

  /** `pool` is owned by the store from here on: close() ends it. */
  constructor(readonly pool: Pool) {
    this.workspaces = new PgWorkspaces(pool)
    this.nodes = new PgNodes(pool)
    this.agents = new PgAgents(pool)
    this.channels = new PgChannels(pool)
    this.mail = new PgMail(pool)
    this.invocations = new PgInvocations(pool)
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end()
    return this.closed
  }
}

export interface OpenPgStoreOptions extends PgPoolOptions {
  /** Run migrations before returning (default true). */
  migrate?: boolean
}

/** Connects, brings the schema up to date (under the migration lock) and returns the store. */
export async function openPgStore(connectionString: string, opts: OpenPgStoreOptions = {}): Promise<PgStore> {
  const pool = createPool(connectionString, opts)
  try {
    const store = new PgStore(pool)
    store.migration = opts.migrate === false ? undefined : await migratePg(pool)
    return store
  } catch (err) {
    await pool.end().catch(() => undefined)
    throw err
  }
}
