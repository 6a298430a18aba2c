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

export function openSqliteStore(dataDir: string): Store {
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(join(dataDir, DB_FILE))
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  // WAL + NORMAL is durable across process crashes, which is what a local engine needs.
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  migrate(db)
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
