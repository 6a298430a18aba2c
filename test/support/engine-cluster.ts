/**
 * N engine instances as child processes on one database URL (test/engine/fixtures/
 * cluster-instance.ts, the engine from source under tsx). Each child prints its URL; the
 * cluster keeps every instance's port, so `restart(i)` brings instance i back on the SAME
 * port and the URL list handed to clients stays valid across kills.
 *
 *   const cluster = await startEngineCluster({ instances: 3, databaseUrl })
 *   cluster.urls                       // ['http://127.0.0.1:41001', …], stable
 *   await cluster.kill(1, 'SIGKILL')   // resolves once the process is gone
 *   await cluster.restart(1)           // same port, same data dir
 *   await cluster.stop()
 *
 * Without `databaseUrl` each instance uses SQLite in its own data dir (so a one-instance
 * "cluster" is a crash/restart rig for SQLite). Children get a minimal environment (PATH,
 * HOME, temp and locale variables, plus `env`), not the test process's; each runs in its own
 * process group, is killed with it, and closes itself when its stdin reaches EOF (the test
 * process died). stderr is kept per instance (last 64 KiB, across restarts) for diagnostics.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

const REPO_ROOT = resolve(__dirname, '..', '..')
const FIXTURE = join(REPO_ROOT, 'test', 'engine', 'fixtures', 'cluster-instance.ts')
const STDERR_KEEP = 64 * 1024
/** Variables a child may inherit; everything else of the test process stays out. */
const ENV_ALLOW = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'SYSTEMROOT', 'USER']

export interface EngineClusterOptions {
  instances: number
  /** Shared PostgreSQL store; omitted = SQLite per instance. */
  databaseUrl?: string
  /** Extra environment for every child (e.g. tuning knobs the fixture reads). */
  env?: Record<string, string>
  /** Bound for one instance to print its URL (default 30 s: tsx compiles the engine first). */
  startTimeoutMs?: number
}

export interface InstanceExit {
  instance: number
  pid: number
  code: number | null
  signal: NodeJS.Signals | null
  /** performance-independent wall clock (Date.now()). */
  at: number
  /** Asked for by kill()/stop(); false = the instance died on its own. */
  expected: boolean
}

export interface EngineCluster {
  /** Base URL per instance, stable across restarts. */
  readonly urls: string[]
  readonly size: number
  url(i: number): string
  port(i: number): number
  pid(i: number): number | undefined
  alive(i: number): boolean
  dataDir(i: number): string
  /** Captured stderr of instance i (all its runs, last 64 KiB). */
  stderr(i: number): string
  /** Every exit so far, expected or not. */
  readonly exits: InstanceExit[]
  /** Signals instance i (its process group) and resolves once it has exited. */
  kill(i: number, signal?: 'SIGKILL' | 'SIGTERM'): Promise<InstanceExit | undefined>
  /** Starts instance i again on the same port and data dir (stopping it first if alive); resolves with its URL. */
  restart(i: number): Promise<string>
  /** Stops every instance (SIGTERM, SIGKILL after 5 s) and removes the data dirs. */
  stop(): Promise<void>
}

interface Instance {
  index: number
  dataDir: string
  port: number
  url: string
  child?: ChildProcess
  exited?: Promise<InstanceExit>
  stderr: string
  /** stderr of the current run only (for the EADDRINUSE check). */
  runStderr: string
  expectExit: boolean
}

const live = new Set<ChildProcess>()
let exitHookInstalled = false

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal)
  } catch {
    try {
      child.kill(signal)
    } catch { /* already gone */ }
  }
}

function childEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const k of ENV_ALLOW) {
    const v = process.env[k]
    if (v !== undefined) env[k] = v
  }
  return { ...env, ...extra }
}

function spawnInstance(inst: Instance, opts: EngineClusterOptions): Promise<string> {
  const env = childEnv({
    ...opts.env,
    PORT: String(inst.port),
    RELAY_DATA_DIR: inst.dataDir,
    ...(opts.databaseUrl ? { RELAY_DATABASE_URL: opts.databaseUrl } : {}),
  })
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true,
  })
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL')
    })
  }
  live.add(child)
  inst.child = child
  inst.expectExit = false
  inst.runStderr = ''
  child.stdin?.on('error', () => undefined)
  child.stderr?.on('data', (d: Buffer) => {
    inst.stderr = (inst.stderr + d.toString()).slice(-STDERR_KEEP)
    inst.runStderr = (inst.runStderr + d.toString()).slice(-STDERR_KEEP)
  })
  const pid = child.pid ?? -1
  inst.exited = new Promise<InstanceExit>((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      if (inst.child === child) inst.child = undefined
      resolveExit({ instance: inst.index, pid, code, signal, at: Date.now(), expected: inst.expectExit })
    })
  })
  const bound = opts.startTimeoutMs ?? 30_000
  return new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL')
      reject(new Error(`engine instance ${inst.index} printed no URL within ${bound} ms; stderr:\n${inst.stderr.slice(-4000)}`))
    }, bound)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      const url = line.trim()
      if (!/^https?:\/\//.test(url)) return
      clearTimeout(timer)
      lines.close()
      resolveUrl(url)
    })
    // 'close', not 'exit': stderr is read to its end, so the message (and EADDRINUSE) is complete.
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`engine instance ${inst.index} exited (${code ?? signal}) before listening; stderr:\n${inst.stderr.slice(-4000)}`))
    })
  })
}

export async function startEngineCluster(opts: EngineClusterOptions): Promise<EngineCluster> {
  if (!Number.isInteger(opts.instances) || opts.instances < 1) throw new Error('instances must be a positive integer')
  const instances: Instance[] = Array.from({ length: opts.instances }, (_, index) => ({
    index, dataDir: mkdtempSync(join(tmpdir(), `relay-cluster-${index}-`)), port: 0, url: '', stderr: '', runStderr: '', expectExit: false,
  }))
  const exits: InstanceExit[] = []
  const track = (inst: Instance) => {
    void inst.exited?.then((e) => exits.push(e))
  }

  const startOne = async (inst: Instance): Promise<string> => {
    // The port is fixed after the first start; right after a kill it is free again, but
    // another process may grab it in between: retry a few times on EADDRINUSE.
    for (let attempt = 1; ; attempt++) {
      try {
        const url = await spawnInstance(inst, opts)
        track(inst)
        return url
      } catch (err) {
        track(inst)
        const inUse = inst.runStderr.includes('EADDRINUSE')
        if (!inUse || attempt >= 5 || inst.port === 0) throw err
        await new Promise((r) => setTimeout(r, 100 * attempt))
      }
    }
  }

  const kill = async (i: number, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<InstanceExit | undefined> => {
    const inst = instances[i]
    if (!inst) throw new Error(`no instance ${i}`)
    const child = inst.child
    if (!child || !inst.exited) return undefined
    inst.expectExit = true
    killGroup(child, signal)
    let timer: NodeJS.Timeout | undefined
    if (signal === 'SIGTERM') timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000)
    const exit = await inst.exited
    clearTimeout(timer)
    return exit
  }

  const cleanup = async () => {
    await Promise.all(instances.map((_, i) => kill(i, 'SIGKILL')))
    for (const inst of instances) rmSync(inst.dataDir, { recursive: true, force: true })
  }

  try {
    const urls = await Promise.all(instances.map((inst) => startOne(inst)))
    urls.forEach((url, i) => {
      const inst = instances[i] as Instance
      inst.url = url
      inst.port = Number(new URL(url).port)
    })
  } catch (err) {
    await cleanup()
    throw err
  }

  const at = (i: number): Instance => {
    const inst = instances[i]
    if (!inst) throw new Error(`no instance ${i}`)
    return inst
  }

  let stopping: Promise<void> | undefined
  return {
    urls: instances.map((inst) => inst.url),
    size: instances.length,
    url: (i) => at(i).url,
    port: (i) => at(i).port,
    pid: (i) => at(i).child?.pid,
    alive: (i) => !!at(i).child,
    dataDir: (i) => at(i).dataDir,
    stderr: (i) => at(i).stderr,
    exits,
    kill,
    async restart(i) {
      const inst = at(i)
      if (inst.child) await kill(i, 'SIGTERM')
      const url = await startOne(inst)
      if (url !== inst.url) {
        await kill(i, 'SIGKILL')
        throw new Error(`instance ${i} came back on ${url}, not ${inst.url}`)
      }
      return url
    },
    stop() {
      stopping ??= (async () => {
        await Promise.all(instances.map((_, i) => kill(i, 'SIGTERM')))
        for (const inst of instances) rmSync(inst.dataDir, { recursive: true, force: true })
      })()
      return stopping
    },
  }
}
