/**
 * A real, throwaway PostgreSQL for tests (never a mock): `initdb` into a fresh temp dir,
 * `pg_ctl start` on a free 127.0.0.1 port with the unix socket in that dir, trust auth,
 * durability off (fsync, full-page writes: it is deleted afterwards). About 2 s to start
 * (initdb ~1.5 s, start ~0.5 s); each test file then takes databases of its own from it
 * with `createDatabase()` (CREATE DATABASE from a template: tens of ms).
 *
 *   const pg = postgresAvailability()            // sync: decide skip at collection time
 *   describe.skipIf(!pg.ok)(`… ${pg.ok ? '' : `(skipped: ${pg.reason})`}`, () => {
 *     let cluster: PostgresCluster
 *     beforeAll(async () => { cluster = await usePostgres() })
 *     afterAll(() => cluster?.stop())
 *     it('…', async () => { const url = await cluster.createDatabase() … })
 *   })
 *
 * Sharing: when RELAY_TEST_PG_URL holds a superuser URL of a running server (set by the
 * vitest globalSetup in postgres-global.ts, or by CI pointing at a service), usePostgres()
 * creates its databases there and stop() only drops them; otherwise it starts a cluster
 * for this file. Binaries are looked for on PATH, then in /usr/lib/postgresql/<ver>/bin
 * (newest first). initdb refuses to run as root, so as root every server command runs as
 * the `postgres` user (runuser, else su) and the temp dir is chowned to it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import pg from 'pg'

export const SHARED_URL_ENV = 'RELAY_TEST_PG_URL'

export type PostgresAvailability =
  | { ok: true; source: 'shared'; url: string }
  | { ok: true; source: 'local'; binDir: string; version: string; runAs: RunAs | null }
  | { ok: false; reason: string }

interface RunAs { user: string; uid: number; gid: number; via: 'runuser' | 'su'; tool: string }

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres — superuser, trust auth. */
  readonly adminUrl: string
  readonly port: number
  /** Milliseconds initdb + start took (0 for a shared server). */
  readonly startupMs: number
  /** A new empty database (cloned from `template`, default template1); returns its URL. */
  createDatabase(opts?: { prefix?: string; template?: string }): Promise<string>
  /** Drops the databases this handle created, then stops the server if this handle started it. */
  stop(): Promise<void>
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    const p = join(dir, name)
    try {
      if (statSync(p).isFile()) return p
    } catch { /* not here */ }
  }
  return undefined
}

/** A directory holding initdb, pg_ctl and postgres (PATH entries resolved through symlinks). */
function findBinDir(): string | undefined {
  const complete = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)))
  const onPath = findOnPath('initdb')
  if (onPath) {
    const dir = dirname(realpathSync(onPath))
    if (complete(dir)) return dir
  }
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
  for (const v of versions) {
    const dir = join(root, v, 'bin')
    if (complete(dir)) return dir
  }
  return undefined
}

function findRunAs(): RunAs | { reason: string } {
  let uid: number
  let gid: number
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim())
  } catch {
    return { reason: "running as root, and there is no 'postgres' user for initdb to run as (initdb refuses root)" }
  }
  for (const p of ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser']) if (existsSync(p)) return { user: 'postgres', uid, gid, via: 'runuser', tool: p }
  const su = ['/usr/bin/su', '/bin/su'].find((p) => existsSync(p))
  if (su) return { user: 'postgres', uid, gid, via: 'su', tool: su }
  return { reason: "running as root, and neither runuser nor su is there to run initdb as 'postgres'" }
}

/** Synchronous, cheap: whether a real PostgreSQL can be had here, or why not. */
export function postgresAvailability(): PostgresAvailability {
  const shared = process.env[SHARED_URL_ENV]
  if (shared) return { ok: true, source: 'shared', url: shared }
  const binDir = findBinDir()
  if (!binDir) {
    return {
      ok: false,
      reason: "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; install Debian's postgresql package (npm test does it when run as root) or set RELAY_TEST_PG_URL",
    }
  }
  let version = 'unknown'
  try {
    version = execFileSync(join(binDir, 'initdb'), ['--version'], { encoding: 'utf8' }).trim()
  } catch (err) {
    return { ok: false, reason: `${join(binDir, 'initdb')} does not run: ${(err as Error).message}` }
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot) return { ok: true, source: 'local', binDir, version, runAs: null }
  const runAs = findRunAs()
  if ('reason' in runAs) return { ok: false, reason: runAs.reason }
  return { ok: true, source: 'local', binDir, version, runAs }
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

/** [file, args] running `cmd args` as the cluster's owner. */
function asOwner(runAs: RunAs | null, cmd: string, args: string[]): [string, string[]] {
  if (!runAs) return [cmd, args]
  if (runAs.via === 'runuser') return [runAs.tool, ['-u', runAs.user, '--', cmd, ...args]]
  return [runAs.tool, [runAs.user, '-s', '/bin/sh', '-c', [cmd, ...args].map(shellQuote).join(' ')]]
}

function run(runAs: RunAs | null, cmd: string, args: string[], what: string, logFile?: string): void {
  const [file, argv] = asOwner(runAs, cmd, args)
  const r = spawnSync(file, argv, { encoding: 'utf8', cwd: '/', timeout: 60_000 })
  if (r.status !== 0) {
    const log = logFile && existsSync(logFile) ? `\n--- server log ---\n${readFileSync(logFile, 'utf8').slice(-2000)}` : ''
    throw new Error(`${what} failed (exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || r.error?.message || '').trim()}${log}`)
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

let dbCounter = 0
const ident = (name: string) => `"${name.replace(/"/g, '""')}"`

function handle(adminUrl: string, port: number, startupMs: number, shutdown: () => Promise<void>): PostgresCluster {
  const created: string[] = []
  let admin: pg.Client | undefined
  const adminClient = async () => {
    if (!admin) {
      admin = new pg.Client({ connectionString: adminUrl })
      admin.on('error', () => undefined)
      await admin.connect()
    }
    return admin
  }
  let stopped: Promise<void> | undefined
  return {
    adminUrl,
    port,
    startupMs,
    async createDatabase(opts = {}) {
      const name = `${opts.prefix ?? 'relay_test'}_${process.pid}_${++dbCounter}_${Date.now().toString(36)}`.toLowerCase()
      const c = await adminClient()
      await c.query(`CREATE DATABASE ${ident(name)} TEMPLATE ${ident(opts.template ?? 'template1')}`)
      created.push(name)
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      return url.toString()
    },
    stop() {
      stopped ??= (async () => {
        try {
          if (admin) {
            for (const name of created.splice(0)) {
              await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`).catch(() => undefined)
            }
            await admin.end().catch(() => undefined)
          }
        } finally {
          await shutdown()
        }
      })()
      return stopped
    },
  }
}

/** Starts a private cluster (throws with initdb's / the server's own words when it cannot). */
export async function startPostgres(): Promise<PostgresCluster> {
  const avail = postgresAvailability()
  if (!avail.ok) throw new Error(`PostgreSQL unavailable: ${avail.reason}`)
  if (avail.source === 'shared') throw new Error(`startPostgres() starts a private cluster; ${SHARED_URL_ENV} is set: use usePostgres()`)
  const { binDir, runAs } = avail
  const t0 = Date.now()
  // The owner must be able to reach the dir: as root, stay off a private TMPDIR.
  let base = tmpdir()
  if (runAs && (statSync(base).mode & 0o001) === 0) base = '/tmp'
  const dir = mkdtempSync(join(base, 'relay-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  if (/\s/.test(dir)) throw new Error(`temp dir ${dir} has whitespace; pg_ctl -o cannot take it`)
  if (runAs) chownSync(dir, runAs.uid, runAs.gid)
  const pgCtl = join(binDir, 'pg_ctl')
  let running = false
  const stopNow = () => {
    if (running) {
      const [file, argv] = asOwner(runAs, pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop'])
      spawnSync(file, argv, { stdio: 'ignore', cwd: '/', timeout: 30_000 })
      running = false
    }
    rmSync(dir, { recursive: true, force: true })
  }
  // A worker that exits without afterAll (crash, Ctrl-C) still takes its server down.
  const onExit = () => stopNow()
  process.once('exit', onExit)
  try {
    const initdb = ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']
    try {
      run(runAs, join(binDir, 'initdb'), [...initdb, '--locale=C.UTF-8'], 'initdb')
    } catch {
      // No C.UTF-8 locale on this system: plain C (byte order, ASCII-only case folding).
      rmSync(data, { recursive: true, force: true })
      run(runAs, join(binDir, 'initdb'), [...initdb, '--no-locale'], 'initdb')
    }
    let port = 0
    for (let attempt = 1; ; attempt++) {
      port = await freePort()
      const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`
      try {
        run(runAs, pgCtl, ['-D', data, '-l', log, '-o', opts, '-w', '-t', '60', 'start'], 'pg_ctl start', log)
        running = true
        break
      } catch (err) {
        // The port may have been taken between the probe and the bind: try another.
        if (attempt >= 3) throw err
      }
    }
    const startupMs = Date.now() - t0
    return handle(`postgres://postgres@127.0.0.1:${port}/postgres`, port, startupMs, async () => {
      process.removeListener('exit', onExit)
      stopNow()
    })
  } catch (err) {
    process.removeListener('exit', onExit)
    stopNow()
    throw err
  }
}

/** The shared server when RELAY_TEST_PG_URL is set, else a private cluster for this file. */
export async function usePostgres(): Promise<PostgresCluster> {
  const avail = postgresAvailability()
  if (avail.ok && avail.source === 'shared') {
    const url = new URL(avail.url)
    return handle(avail.url, Number(url.port || 5432), 0, async () => undefined)
  }
  return startPostgres()
}
