import type Database from 'better-sqlite3'

type Db = Database.Database

/**
 * better-sqlite3 compiles a statement on every prepare(); the repositories run the
 * same few dozen SQL strings millions of times, so each connection keeps them.
 */
const statementCaches = new WeakMap<Db, Map<string, Database.Statement>>()
export function cachedStatement(db: Db, sql: string): Database.Statement {
  let cache = statementCaches.get(db)
  if (!cache) statementCaches.set(db, (cache = new Map()))
  let stmt = cache.get(sql)
  if (!stmt) cache.set(sql, (stmt = db.prepare(sql)))
  return stmt
}
