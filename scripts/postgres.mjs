// Finds PostgreSQL's server binaries for the tests that run a throwaway cluster
// (test/support/postgres.ts looks the same way): initdb on PATH, else the newest
// /usr/lib/postgresql/<version>/bin (Debian keeps initdb there, off PATH).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export function findInitdb(env = process.env) {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const p = join(dir, 'initdb')
    try {
      if (statSync(p).isFile()) return p
    } catch { /* not here */ }
  }
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) {
    const p = join(root, v, 'bin', 'initdb')
    if (existsSync(p)) return p
  }
  return undefined
}
