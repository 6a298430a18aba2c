/**
 * The real agent-relay broker (`@agent-relay/broker-linux-x64`, a static Linux x64
 * binary) as a child process, pointed at a given engine URL and workspace key, with a
 * temp HOME and cwd (see ../shared/reference/relay-broker-interop.md).
 *
 *   const rb = await startRealBroker({ engineUrl, workspaceKey })
 *   await rb.spawn('cat-1', 'cat')
 *   rb.on((e) => …)                      // its /ws events, parsed
 *   rb.output('cat-1')                   // every worker_stream chunk of that agent, joined
 *   await rb.stop()                      // SIGTERM, SIGKILL after a grace, and its PTY children
 *
 * Every wait is bounded. The lease (`POST /api/session/renew`) is renewed every 30 s
 * while it runs. A broker still alive when this process exits is SIGKILLed (with its
 * agents), so a crashed test or bench never leaves one behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import WebSocket from 'ws'

const root = resolve(__dirname, '../..')

/** The installed binary; `RELAY_REAL_BROKER_BIN` points elsewhere (e.g. to try the skip path). */
export const REAL_BROKER_BIN = process.env.RELAY_REAL_BROKER_BIN || join(root, 'node_modules/@agent-relay/broker-linux-x64/bin/agent-relay-broker')

/** Whether the real broker can run here; `reason` says why not (for a skip message). */
export function realBrokerAvailability(bin = REAL_BROKER_BIN): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ok: false, reason: `the real agent-relay broker ships only for linux-x64 (this is ${process.platform}-${process.arch})` }
  }
  if (!existsSync(bin)) {
    return { ok: false, reason: `the real broker binary is not installed (${bin}); run npm ci (it is an optionalDependency)` }
  }
  return { ok: true }
}

/** One event from its `GET /ws` stream, as parsed JSON, plus when it arrived. */
export interface RealBrokerEvent {
  kind?: string
  type?: string
  name?: string
  chunk?: string
  [k: string]: unknown
}

export interface RealBrokerOptions {
  engineUrl: string
  workspaceKey: string
  /** Node name (`init --name`). Default `real-broker-<6hex>`. */
  name?: string
  /** Reuse a HOME (e.g. to restart on the same identity/token cache). Default: a fresh temp dir. */
  home?: string
  /** cwd of the broker; its node id derives from it. Default: `<home>/work`. */
  cwd?: string
  apiKey?: string
  startTimeoutMs?: number
  env?: Record<string, string>
  /** Renew the owner lease this often (ms); 0 disables. Default 30 s (it expires at 120 s). */
  renewEveryMs?: number
  bin?: string
}

export interface RealBroker {
  readonly apiUrl: string
  readonly apiKey: string
  readonly home: string
  readonly name: string
  readonly child: ChildProcess
  /** stdout + stderr so far (its log goes to stderr). */
  log(): string
  /** Raw call to its local API. */
  api(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; json: unknown; text: string }>
  /** `POST /api/spawn {name, cli, args}`; resolves once `agent_spawned` for it arrived. */
  spawn(name: string, cli: string, args?: string[], timeoutMs?: number): Promise<void>
  renew(): Promise<void>
  /** Every /ws event as it arrives; returns an unsubscribe. */
  on(listener: (e: RealBrokerEvent, at: number) => void): () => void
  /** First event (already seen or future) matching `pred`, within `timeoutMs`. */
  waitForEvent(pred: (e: RealBrokerEvent) => boolean, what: string, timeoutMs?: number): Promise<RealBrokerEvent>
  /** All events seen so far. */
  events(): RealBrokerEvent[]
  /** Everything `name`'s PTY has printed so far (worker_stream chunks, joined). */
  output(name: string): string
  readonly exited: boolean
  /** SIGTERM (it releases its agents at the engine), SIGKILL after `graceMs`, then any PTY child left. */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<RealBroker>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const b of live) killHard(b.child.pid)
  })
}

/** Descendants of `pid` (PTY children run in their own session, so a group kill misses them). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  let entries: string[] = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      // pid (comm) state ppid … — comm may contain spaces/parens: split after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const list = children.get(ppid) ?? []
      list.push(Number(e))
      children.set(ppid, list)
    } catch {
      /* gone meanwhile */
    }
  }
  const out: number[] = []
  const stack = [pid]
  while (stack.length) {
    for (const c of children.get(stack.pop() as number) ?? []) {
      out.push(c)
      stack.push(c)
    }
  }
  return out
}

function killHard(pid: number | undefined): void {
  if (!pid) return
  const kids = descendants(pid)
  for (const p of [pid, ...kids]) {
    try {
      process.kill(p, 'SIGKILL')
    } catch {
      /* already gone */
    }
  }
}

export async function startRealBroker(opts: RealBrokerOptions): Promise<RealBroker> {
  const avail = realBrokerAvailability(opts.bin)
  if (!avail.ok) throw new Error(avail.reason)
  installExitHook()
  const ownHome = !opts.home
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'relay-real-broker-'))
  const cwd = opts.cwd ?? join(home, 'work')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(cwd, { recursive: true })
  const name = opts.name ?? `real-broker-${randomBytes(3).toString('hex')}`
  const apiKey = opts.apiKey ?? `br_${randomBytes(16).toString('hex')}`
  const startTimeoutMs = opts.startTimeoutMs ?? 20_000

  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    // Never let an outer relay configuration leak into it.
    if (v !== undefined && !/^(RELAY_|RELAYCAST_|AGENT_RELAY_)/.test(k)) env[k] = v
  }
  Object.assign(env, {
    HOME: home,
    XDG_DATA_HOME: join(home, '.local/share'),
    XDG_CONFIG_HOME: join(home, '.config'),
    RELAYCAST_BASE_URL: opts.engineUrl,
    RELAY_BASE_URL: opts.engineUrl,
    RELAY_WORKSPACE_KEY: opts.workspaceKey,
    RELAY_BROKER_API_KEY: apiKey,
    AGENT_RELAY_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
    AGENT_RELAY_BROKER_LOG: 'stderr',
    ...opts.env,
  })
  const child = spawn(opts.bin ?? REAL_BROKER_BIN, ['init', '--name', name, '--api-port', '0', '--api-bind', '127.0.0.1'], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let logText = ''
  const onLog = (d: Buffer) => {
    logText += d.toString('utf8')
    if (logText.length > 2_000_000) logText = logText.slice(-1_000_000)
  }
  child.stdout?.on('data', onLog)
  child.stderr?.on('data', onLog)
  let exited = false
  const exitPromise = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true
      r()
    }),
  )

  let apiUrl: string
  try {
    apiUrl = await new Promise<string>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`real broker printed no "API listening on" within ${startTimeoutMs} ms; log:\n${logText.slice(-4000)}`)), startTimeoutMs)
      const check = () => {
        const m = /API listening on (http:\/\/[\d.]+:\d+)/.exec(logText)
        if (m) {
          clearTimeout(timer)
          res(m[1] as string)
        }
      }
      child.stdout?.on('data', check)
      child.stderr?.on('data', check)
      child.once('exit', (code, sig) => {
        clearTimeout(timer)
        rej(new Error(`real broker exited (${code ?? sig}) before listening; log:\n${logText.slice(-4000)}`))
      })
      child.once('error', (err) => {
        clearTimeout(timer)
        rej(err)
      })
    })
  } catch (err) {
    killHard(child.pid)
    throw err
  }

  const listeners = new Set<(e: RealBrokerEvent, at: number) => void>()
  const seen: RealBrokerEvent[] = []
  const outputs = new Map<string, string[]>()
  let ws: WebSocket | undefined
  let renewTimer: NodeJS.Timeout | undefined

  const api: RealBroker['api'] = async (method, path, body, timeoutMs = 10_000) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { 'x-api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, json, text }
  }

  const waitForEvent: RealBroker['waitForEvent'] = (pred, what, timeoutMs = 15_000) => {
    const hit = seen.find(pred)
    if (hit) return Promise.resolve(hit)
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        off()
        rej(new Error(`real broker: timed out after ${timeoutMs} ms waiting for ${what}; log tail:\n${logText.slice(-3000)}`))
      }, timeoutMs)
      const off = on((e) => {
        if (pred(e)) {
          clearTimeout(timer)
          off()
          res(e)
        }
      })
    })
  }

  function on(listener: (e: RealBrokerEvent, at: number) => void): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  const handle: RealBroker = {
    apiUrl,
    apiKey,
    home,
    name,
    child,
    log: () => logText,
    api,
    on,
    waitForEvent,
    events: () => [...seen],
    output: (agent) => (outputs.get(agent) ?? []).join(''),
    get exited() {
      return exited
    },
    async spawn(agent, cli, args, timeoutMs = 20_000) {
      const spawned = waitForEvent((e) => e.kind === 'agent_spawned' && e.name === agent, `agent_spawned ${agent}`, timeoutMs)
      spawned.catch(() => undefined)
      const r = await api('POST', '/api/spawn', { name: agent, cli, ...(args ? { args } : {}) }, timeoutMs)
      if (r.status >= 300) throw new Error(`real broker POST /api/spawn ${agent} → ${r.status} ${r.text}`)
      await spawned
    },
    async renew() {
      const r = await api('POST', '/api/session/renew', {})
      if (r.status >= 300) throw new Error(`real broker POST /api/session/renew → ${r.status} ${r.text}`)
    },
    async stop(graceMs = 3000) {
      // The broker's own state dir (`wrote connection file path=<dir>/connection.json`) outlives it.
      const stateDir = /wrote connection file path=(\S+)\/connection\.json/.exec(handle.log().replace(/\x1b\[[0-9;]*m/g, ''))?.[1]
      live.delete(handle)
      if (renewTimer) clearInterval(renewTimer)
      ws?.removeAllListeners()
      ws?.on('error', () => undefined)
      ws?.terminate()
      if (!exited) {
        const kids = descendants(child.pid as number)
        child.kill('SIGTERM')
        const timedOut = await Promise.race([exitPromise.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())])
        if (timedOut) killHard(child.pid)
        await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000).unref())])
        // Its agents (own PTY sessions) must not outlive it.
        for (const p of kids) {
          try {
            process.kill(p, 'SIGKILL')
          } catch {
            /* gone */
          }
        }
      }
      if (stateDir && /agent-relay-ephemeral-/.test(stateDir)) rmSync(stateDir, { recursive: true, force: true })
      if (ownHome) {
        try {
          rmSync(home, { recursive: true, force: true })
        } catch {
          /* best effort */
        }
      }
    },
  }
  live.add(handle)

  try {
    // Ready: the local API answers 503 "Broker is starting" until it has its identity.
    const deadline = Date.now() + startTimeoutMs
    for (;;) {
      if (exited) throw new Error(`real broker exited during start-up; log:\n${logText.slice(-4000)}`)
      const r = await api('GET', '/api/spawned', undefined, 2000).catch(() => ({ status: 0, text: '' }))
      if (r.status === 200) break
      if (Date.now() > deadline) {
        throw new Error(`real broker local API not ready within ${startTimeoutMs} ms (last ${r.status} ${r.text}); log:\n${logText.slice(-4000)}`)
      }
      await new Promise((r2) => setTimeout(r2, 50))
    }
    ws = new WebSocket(`${apiUrl.replace(/^http/, 'ws')}/ws`, { headers: { 'x-api-key': apiKey } })
    ws.on('message', (raw) => {
      const at = performance.now()
      let e: RealBrokerEvent
      try {
        e = JSON.parse(raw.toString()) as RealBrokerEvent
      } catch {
        return
      }
      if (e.kind === 'worker_stream' && typeof e.name === 'string' && typeof e.chunk === 'string') {
        const list = outputs.get(e.name) ?? []
        list.push(e.chunk)
        outputs.set(e.name, list)
      } else {
        seen.push(e)
        if (seen.length > 20_000) seen.splice(0, 10_000)
      }
      for (const l of listeners) l(e, at)
    })
    ws.on('error', () => undefined)
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error('real broker /ws did not open within 5 s')), 5000)
      ws?.once('open', () => {
        clearTimeout(timer)
        res()
      })
      ws?.once('unexpected-response', (_req, res2) => {
        clearTimeout(timer)
        rej(new Error(`real broker /ws answered ${res2.statusCode}`))
      })
    })
    await handle.renew()
    const every = opts.renewEveryMs ?? 30_000
    if (every > 0) {
      renewTimer = setInterval(() => handle.renew().catch(() => undefined), every)
      renewTimer.unref()
    }
  } catch (err) {
    await handle.stop(500)
    throw err
  }
  return handle
}
