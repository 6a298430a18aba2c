/**
 * SQLite implementation of the Store port (better-sqlite3, WAL). One file per
 * engine data dir; the engine is single-process, so one connection is enough.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { MIGRATIONS } from './migrations'
import type { Store } from './types'
import { SqliteAgents, SqliteChannels, SqliteNodes, SqliteWorkspaces } from './sqlite-directory'
import { SqliteMail } from './sqlite-mail'
import { SqliteInvocations } from './sqlite-actions'

export type Db = Database.Database


export const DB_FILE = 'engine.sqlite'

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v])
      // user_version cannot be bound as a parameter; v is our own integer.
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

export interface SqliteStoreOptions {
  /**
   * Hold the database file's lock for the life of the connection (locking_mode EXCLUSIVE):
   * the WAL index then lives in this process's memory and no read or write takes file
   * locks (several syscalls per statement otherwise, which dominated small reads). The
   * engine owns its data dir, so it opens exclusively; a second process on the same file
   * then fails at open (SQLITE_BUSY) instead of sharing it.
   */
  exclusive?: boolean
}

export function openSqliteStore(dataDir: string, opts: SqliteStoreOptions = {}): Store {
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(join(dataDir, DB_FILE))
  if (opts.exclusive) db.pragma('locking_mode = EXCLUSIVE')
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  // WAL + NORMAL is durable across process crashes, which is what a local engine needs.
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  // Statement journals (one per savepoint: each post of a group commit has one) stay in
  // memory; as temp files they cost a page write per page a post touched.
  db.pragma('temp_store = MEMORY')
  migrate(db)
  // Take the lock now (the first write takes it for good in exclusive mode), so a second
  // engine on this data dir fails here rather than on its first request.
  if (opts.exclusive) db.exec('BEGIN IMMEDIATE; COMMIT')
  return {
    workspaces: new SqliteWorkspaces(db),
    nodes: new SqliteNodes(db),
    agents: new SqliteAgents(db),
    channels: new SqliteChannels(db),
    mail: new SqliteMail(db),
    invocations: new SqliteInvocations(db),
    close: () => db.close(),
  }
}
