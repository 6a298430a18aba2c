/**
 * The peer benchmark (issue 8, parts 3–4): the same scenarios on our engine with `cat`
 * agents, once through our broker and once through the real agent-relay broker.
 *
 * What is measured is what a user sees: the time from the start of `POST /v1/dm` to
 * the message's text APPEARING in the agent's terminal stream — ours: the broker's
 * `agent.output` events (batched ≤ 16 ms for the UI, so conservative for us; the raw
 * PTY data is measured beside it); the real broker: its `/ws` `worker_stream` chunks.
 * Never the ack (the real broker acks before typing).
 *
 * Each message carries a unique fixed-length marker; the first time it shows in the
 * agent's output is the tty echo of the typed text (= "typed"), the second is cat
 * printing the line back (= Enter was pressed). Exactly two per marker is correct.
 *
 * Counting happens only once the broker is done with every message of a scenario
 * (`PeerTarget.settled`: ours acked it — after the text and Enter —, the real broker
 * emitted `delivery_verified` — after the text and Enter, by echo or its 5 s fallback)
 * and every marker's second copy arrived, each bounded by the scenario's deadline, never
 * by a short fixed window: a window that closes while the last copy is still in flight
 * (or already in the socket buffer of a stalled bench process) miscounts a correct
 * delivery as "once". A marker that is off is reported with its count; for the real
 * broker also with its count in the broker's own PTY log, and a `/ws` that skipped
 * events (its broadcast is lossy) is flagged, so a loss of delivery and a loss of
 * observation are told apart.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Broker, type BrokerEvent } from '../../electron/broker'
import type { AgentRuntime } from '../../electron/broker/agent-runtime'
import { EngineApi } from '../../electron/broker/engine-api'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { realBrokerAvailability, startRealBroker, type RealBroker } from '../support/real-broker'
import { summarize, type Summary } from './stats'

// ---- markers ----------------------------------------------------------------

/** `MK` + scenario letter + 2-digit agent + 4-digit index + `Z`: fixed length, never a prefix of another. */
export const marker = (scenario: string, agent: number, i: number): string =>
  `MK${scenario}${String(agent).padStart(2, '0')}${String(i).padStart(4, '0')}Z`
const MARKER_RE = /MK[a-z]\d{6}Z/g
const MARKER_LEN = 10

interface MarkerState {
  count: number
  at: number[]
}

/**
 * Follows each agent's output stream and records when each marker appears (1st, 2nd, …
 * occurrence). Scans only new text, so it stays linear in the output size.
 */
export class MarkerTracker {
  private readonly out = new Map<string, { text: string; scanPos: number }>()
  readonly markers = new Map<string, MarkerState>()
  private waiters: Array<{ marker: string; n: number; done: (at: number) => void }> = []

  feed(agent: string, data: string, at: number): void {
    const o = this.out.get(agent) ?? { text: '', scanPos: 0 }
    o.text += data
    MARKER_RE.lastIndex = o.scanPos
    let lastEnd = 0
    for (let m = MARKER_RE.exec(o.text); m; m = MARKER_RE.exec(o.text)) {
      const st = this.markers.get(m[0]) ?? { count: 0, at: [] }
      st.count++
      st.at.push(at)
      this.markers.set(m[0], st)
      lastEnd = m.index + m[0].length
    }
    o.scanPos = Math.max(lastEnd, o.text.length - MARKER_LEN + 1, o.scanPos)
    this.out.set(agent, o)
    if (this.waiters.length) {
      this.waiters = this.waiters.filter((w) => {
        const st = this.markers.get(w.marker)
        if (st && st.count >= w.n) {
          w.done(st.at[w.n - 1] as number)
          return false
        }
        return true
      })
    }
  }

  output(agent: string): string {
    return this.out.get(agent)?.text ?? ''
  }

  /** When `marker` appeared for the n-th time; undefined after `timeoutMs`. */
  wait(mk: string, n = 1, timeoutMs = 10_000): Promise<number | undefined> {
    const st = this.markers.get(mk)
    if (st && st.count >= n) return Promise.resolve(st.at[n - 1])
    return new Promise((resolve) => {
      const w = {
        marker: mk,
        n,
        done: (at: number) => {
          clearTimeout(timer)
          resolve(at)
        },
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(undefined)
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  /** Occurrences of every expected marker, counted afresh on the full output (cross-check). */
  check(expected: Array<{ agent: string; marker: string }>, perMarker = 2, truth?: (agent: string) => string | undefined): Correctness {
    const res: Correctness = { expected: expected.length, exact: 0, missing: [], once: [], duplicated: [], off: [] }
    for (const { agent, marker: mk } of expected) {
      const n = this.output(agent).split(mk).length - 1
      if (n === perMarker) {
        res.exact++
        continue
      }
      if (n === 0) res.missing.push(mk)
      else if (n < perMarker) res.once.push(mk)
      else res.duplicated.push(`${mk}×${n}`)
      const log = truth?.(agent)
      res.off.push({ agent, marker: mk, seen: n, at: this.markers.get(mk)?.at ?? [], ...(log === undefined ? {} : { ptyLog: log.split(mk).length - 1 }) })
    }
    return res
  }
}

export interface Correctness {
  expected: number
  /** Markers seen exactly twice (tty echo of the typed text + cat printing the line). */
  exact: number
  missing: string[]
  /** Typed but no second copy: Enter never reached cat, or two lines were merged. */
  once: string[]
  duplicated: string[]
  /**
   * Every marker not seen exactly twice: its count in the stream, when each copy showed,
   * and (real broker) its count in the broker's own PTY log — 2 there means the message
   * was typed right and only the observation missed it.
   */
  off: Array<{ agent: string; marker: string; seen: number; at: number[]; ptyLog?: number }>
  /** Why this count may not be final: the stream it was read from skipped data, or the broker was not done by the deadline. */
  observation?: string
}

/** Message ids that reached a final state at the broker, awaitable with a bound. */
class Settled {
  private readonly done = new Set<string>()
  private waiters: Array<{ ids: string[]; resolve: (left: number) => void }> = []

  mark(id: string): void {
    this.done.add(id)
    if (!this.waiters.length) return
    this.waiters = this.waiters.filter((w) => {
      if (w.ids.some((x) => !this.done.has(x))) return true
      w.resolve(0)
      return false
    })
  }

  /** Resolves with how many of `ids` are not settled: 0 once all are, or the rest at the bound. */
  wait(ids: string[], timeoutMs: number): Promise<number> {
    const left = () => ids.filter((x) => !this.done.has(x)).length
    if (left() === 0) return Promise.resolve(0)
    return new Promise((resolve) => {
      const w = {
        ids,
        resolve: (n: number) => {
          clearTimeout(timer)
          resolve(n)
        },
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(left())
      }, Math.max(1, timeoutMs))
      this.waiters.push(w)
    })
  }
}

/** Lets pending socket data be read (a poll phase) before counting: timers run before I/O. */
const drainIo = () => new Promise<void>((r) => setImmediate(r))

// ---- targets ------------------------------------------------------------------

/** One broker on a fresh engine of ours, with `cat` agents and a sender agent. */
export interface PeerTarget {
  label: 'ours' | 'real'
  engine: RunningEngine
  /** Output as the user's terminal view gets it. */
  visible: MarkerTracker
  /** Raw PTY data before any batching (ours only; undefined for the real broker). */
  raw?: MarkerTracker
  /** Per-message timestamps of our broker's delivery steps (ours only): msgText → state → at. */
  steps?: Map<string, Partial<Record<string, number>>>
  spawnCat(name: string): Promise<void>
  /** POST /v1/dm; resolves with the message id. */
  send(to: string, text: string): Promise<string>
  /**
   * Resolves once the broker is done with every one of `msgIds` (ours: acked or failed,
   * the ack coming after the text and Enter; real: `delivery_verified` (or dropped/failed), after the
   * text and Enter) — with 0, or with how many were not done at `timeoutMs`.
   */
  settled(msgIds: string[], timeoutMs: number): Promise<number>
  /** Ground truth of an agent's PTY output, independent of the stream (real: the broker's own log). */
  truth?(agent: string): string | undefined
  /** Why the stream may have skipped data (real: its `/ws` reported lag); undefined if it did not. */
  observationLoss?(): string | undefined
  stop(): Promise<void>
}

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `relay-peer-${p}-`))

async function engineWithSender(): Promise<{ engine: RunningEngine; dataDir: string; api: EngineApi; key: string; wsId: string; senderToken: string }> {
  const dataDir = tmp('engine')
  const engine = await startEngine({ port: 0, dataDir })
  const api = new EngineApi({ baseUrl: engine.url, timeoutMs: 30_000 })
  const ws = await api.createWorkspace('peer-bench')
  const sender = await api.ensureAgent(ws.api_key, 'bench-sender')
  return { engine, dataDir, api, key: ws.api_key, wsId: ws.workspace_id, senderToken: sender.token }
}

/**
 * Our broker hands raw PTY data to its injector at once and batches it (16 ms) for
 * `agent.output`. The bench also taps the raw stream, read-only, through the runtime's
 * event hooks (a bench-only reach into a private field; if it ever moves, the raw column
 * is simply left empty).
 */
function tapRaw(broker: Broker, name: string, fn: (data: string) => void): boolean {
  const entry = (broker as unknown as { agents: Map<string, { runtime?: AgentRuntime }> }).agents?.get(name)
  const events = (entry?.runtime as unknown as { events?: { onData?: (d: string) => void } } | undefined)?.events
  if (!events?.onData) return false
  const orig = events.onData
  events.onData = (d: string) => {
    fn(d)
    orig(d)
  }
  return true
}

export async function startOurs(): Promise<PeerTarget> {
  const e = await engineWithSender()
  const stateDir = tmp('node')
  const broker = new Broker({
    baseUrl: e.engine.url,
    workspaceKey: e.key,
    workspaceId: e.wsId,
    stateDir,
    nodeName: 'peer-bench-ours',
    cwd: () => stateDir,
    env: { ...process.env, RELAY_NODE_TOKEN: '' },
  })
  const visible = new MarkerTracker()
  const raw = new MarkerTracker()
  const steps = new Map<string, Partial<Record<string, number>>>()
  const settled = new Settled()
  broker.on((ev: BrokerEvent) => {
    const at = performance.now()
    if (ev.type === 'agent.output') visible.feed(ev.name, ev.data, at)
    else if (ev.type === 'delivery') {
      const key = ev.step.text
      const s = steps.get(key) ?? {}
      if (s[ev.step.state] === undefined) s[ev.step.state] = at
      steps.set(key, s)
      if (ev.step.state === 'acked' || ev.step.state === 'failed') settled.mark(ev.step.msgId)
    }
  })
  await broker.start()
  const deadline = Date.now() + 15_000
  while (broker.state.state !== 'connected') {
    if (Date.now() > deadline) throw new Error(`our broker did not connect within 15 s (${broker.state.state} ${broker.state.detail ?? ''})`)
    await new Promise((r) => setTimeout(r, 5))
  }
  const target: PeerTarget = {
    label: 'ours',
    engine: e.engine,
    visible,
    raw,
    steps,
    async spawnCat(name) {
      await broker.spawn({ name, command: 'cat', cwd: stateDir })
      if (!tapRaw(broker, name, (d) => raw.feed(name, d, performance.now()))) target.raw = undefined
    },
    async send(to, text) {
      return (await e.api.sendDm(e.senderToken, { to, text })).message.id
    },
    settled: (ids, timeoutMs) => settled.wait(ids, timeoutMs),
    async stop() {
      await broker.stop().catch(() => undefined)
      await e.engine.close().catch(() => undefined)
      rmSync(stateDir, { recursive: true, force: true })
      rmSync(e.dataDir, { recursive: true, force: true })
    },
  }
  return target
}

export async function startReal(): Promise<PeerTarget & { broker: RealBroker }> {
  const e = await engineWithSender()
  let rb: RealBroker
  try {
    rb = await startRealBroker({ engineUrl: e.engine.url, workspaceKey: e.key, name: 'peer-bench-real' })
  } catch (err) {
    await e.engine.close().catch(() => undefined)
    throw err
  }
  const visible = new MarkerTracker()
  const settled = new Settled()
  rb.on((ev, at) => {
    if (ev.kind === 'worker_stream' && typeof ev.name === 'string' && typeof ev.chunk === 'string') visible.feed(ev.name, ev.chunk, at)
    // The broker is done with a delivery: verified (echo, or its 5 s fallback) after the
    // text and Enter were written, or dropped. event_id is the engine's message id.
    else if ((ev.kind === 'delivery_verified' || ev.kind === 'delivery_dropped' || ev.kind === 'delivery_failed') && typeof ev.event_id === 'string') settled.mark(ev.event_id)
  })
  // Its state dir (`wrote connection file path=<dir>/connection.json` in its log) keeps
  // each worker's raw PTY output in team/worker-logs/<name>.log: the truth to check the
  // lossy /ws stream against (RealBroker.stop removes it).
  const stateDir = () => /wrote connection file path=(\S+)\/connection\.json/.exec(rb.log().replace(/\x1b\[[0-9;]*m/g, ''))?.[1]
  return {
    label: 'real',
    engine: e.engine,
    broker: rb,
    visible,
    async spawnCat(name) {
      await rb.spawn(name, 'cat')
    },
    async send(to, text) {
      return (await e.api.sendDm(e.senderToken, { to, text })).message.id
    },
    settled: (ids, timeoutMs) => settled.wait(ids, timeoutMs),
    truth(agent) {
      const dir = stateDir()
      if (!dir) return undefined
      try {
        return readFileSync(join(dir, 'team', 'worker-logs', `${agent}.log`), 'utf8')
      } catch {
        return undefined
      }
    },
    observationLoss() {
      const lagged = rb.log().match(/[^\n]*lagged[^\n]*/g)
      return lagged ? `the broker's /ws skipped events ${lagged.length}× ("dashboard WS client lagged")` : undefined
    },
    async stop() {
      await rb.stop().catch(() => undefined)
      await e.engine.close().catch(() => undefined)
      rmSync(e.dataDir, { recursive: true, force: true })
    },
  }
}

// ---- scenarios ----------------------------------------------------------------

/** After the last message of a scenario settled, this long at most for its last copies to show. */
const COPY_GRACE_MS = 10_000
/** The real broker's echo window: its `delivery_verified` comes at most this long after the text was typed. */
const BROKER_VERIFY_MS = 5000

/**
 * The scenario's exactly-once count, taken only when it can be final: the broker is done
 * with every message and every marker's second copy arrived — both bounded by `deadline`
 * (performance.now() time), the copies by COPY_GRACE_MS after settling — and pending
 * socket data was read. Then counted afresh on the whole output.
 */
async function finalCount(t: PeerTarget, expected: Array<{ agent: string; marker: string }>, msgIds: string[], deadline: number): Promise<Correctness> {
  const unsettled = await t.settled(msgIds, deadline - performance.now())
  const copiesBy = Math.min(deadline, performance.now() + COPY_GRACE_MS)
  await Promise.all(expected.map(({ marker: mk }) => t.visible.wait(mk, 2, Math.max(1, copiesBy - performance.now()))))
  await drainIo()
  const c = t.visible.check(expected, 2, t.truth?.bind(t))
  const loss = t.observationLoss?.()
  const notes = [loss, unsettled ? `${unsettled} of ${msgIds.length} messages not settled at the broker by the deadline` : undefined].filter(Boolean)
  if (notes.length) c.observation = notes.join('; ')
  return c
}

const textOf = (mk: string) => `peer bench ${mk} please look at this`

export interface SingleResult {
  sent: number
  /** send start → marker's first appearance in the visible stream (ms). */
  sendToVisible: number[]
  /** Same, on the raw PTY stream (ours only). */
  sendToRaw: number[]
  /** POST /v1/dm round trip (ms). */
  post: number[]
  /** Where the time goes (ours only): per-message phases in ms. */
  phases?: Record<string, number[]>
  timeouts: number
  correctness: Correctness
}

/**
 * `n` messages one at a time to an idle agent: send, wait until it shows, wait until cat
 * printed it back (Enter arrived), then `gapMs` so the next one meets an idle broker.
 */
export async function runSingle(t: PeerTarget, agent: string, agentIdx: number, n: number, opts: { gapMs?: number; timeoutMs?: number; scenario?: string } = {}): Promise<SingleResult> {
  const gapMs = opts.gapMs ?? 100
  const timeoutMs = opts.timeoutMs ?? 10_000
  const scen = opts.scenario ?? 's'
  const res: SingleResult = { sent: n, sendToVisible: [], sendToRaw: [], post: [], timeouts: 0, correctness: undefined as unknown as Correctness }
  const phases: Record<string, number[]> = { 'send→engine deliver→broker received': [], 'received→echo in raw PTY': [], 'echo→Enter written (typed)': [], 'raw echo→agent.output (16 ms batch)': [], 'typed→acked': [] }
  const expected: Array<{ agent: string; marker: string }> = []
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const mk = marker(scen, agentIdx, i)
    expected.push({ agent, marker: mk })
    const text = textOf(mk)
    const start = performance.now()
    ids.push(await t.send(agent, text))
    res.post.push(performance.now() - start)
    const seen = await t.visible.wait(mk, 1, timeoutMs)
    if (seen === undefined) {
      res.timeouts++
      continue
    }
    res.sendToVisible.push(seen - start)
    const rawAt = t.raw?.markers.get(mk)?.at[0]
    if (rawAt !== undefined) res.sendToRaw.push(rawAt - start)
    await t.visible.wait(mk, 2, timeoutMs)
    const st = t.steps?.get(text)
    if (st && rawAt !== undefined) {
      if (st.received !== undefined) phases['send→engine deliver→broker received']?.push(st.received - start)
      if (st.received !== undefined) phases['received→echo in raw PTY']?.push(rawAt - st.received)
      if (st.typed !== undefined) phases['echo→Enter written (typed)']?.push(st.typed - rawAt)
      phases['raw echo→agent.output (16 ms batch)']?.push(seen - rawAt)
      if (st.typed !== undefined && st.acked !== undefined) phases['typed→acked']?.push(st.acked - st.typed)
    }
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs))
  }
  if (t.steps) res.phases = phases
  res.correctness = await finalCount(t, expected, ids, performance.now() + timeoutMs + BROKER_VERIFY_MS)
  return res
}

export interface BurstResult {
  agents: number
  perAgent: number
  total: number
  /** First send start → every marker's first appearance (ms); undefined if some never showed. */
  allVisibleMs: number | undefined
  /** How long the sending itself took (back-to-back POSTs). */
  sendingMs: number
  appeared: number
  messagesPerSecond: number | undefined
  /** Per message, send start → visible. */
  sendToVisible: number[]
  correctness: Correctness
}

/**
 * `perAgent` messages to each of `agents.length` agents, sent back to back (one sequential
 * sender per agent, all agents concurrently), then wait until every one showed.
 */
export async function runBurst(t: PeerTarget, agents: string[], perAgent: number, opts: { scenario: string; agentBase?: number; timeoutMs?: number }): Promise<BurstResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000
  const base = opts.agentBase ?? 0
  const expected: Array<{ agent: string; marker: string }> = []
  const ids: string[] = []
  const sentAt = new Map<string, number>()
  const t0 = performance.now()
  await Promise.all(
    agents.map(async (agent, a) => {
      for (let i = 0; i < perAgent; i++) {
        const mk = marker(opts.scenario, base + a, i)
        expected.push({ agent, marker: mk })
        sentAt.set(mk, performance.now())
        ids.push(await t.send(agent, textOf(mk)))
      }
    }),
  )
  const sendingMs = performance.now() - t0
  const deadline = t0 + timeoutMs
  const firsts = await Promise.all(expected.map(({ marker: mk }) => t.visible.wait(mk, 1, Math.max(1, deadline - performance.now()))))
  const correctness = await finalCount(t, expected, ids, deadline)
  const appeared = firsts.filter((x) => x !== undefined) as number[]
  const all = appeared.length === expected.length ? Math.max(...appeared) - t0 : undefined
  return {
    agents: agents.length,
    perAgent,
    total: expected.length,
    allVisibleMs: all,
    sendingMs,
    appeared: appeared.length,
    messagesPerSecond: all ? (expected.length / all) * 1000 : undefined,
    sendToVisible: expected.flatMap(({ marker: mk }, i) => (firsts[i] === undefined ? [] : [(firsts[i] as number) - (sentAt.get(mk) as number)])),
    correctness,
  }
}

// ---- the whole peer run -------------------------------------------------------

export interface PeerConfig {
  single: number
  burst: number
  agents: number
  perAgent: number
  warmup: number
  gapMs: number
}

export const defaultPeerConfig = (env = process.env): PeerConfig => ({
  single: Number(env.BENCH_PEER_SINGLE ?? 100),
  burst: Number(env.BENCH_PEER_BURST ?? 200),
  agents: Number(env.BENCH_PEER_AGENTS ?? 10),
  perAgent: Number(env.BENCH_PEER_PER_AGENT ?? 50),
  warmup: Number(env.BENCH_PEER_WARMUP ?? 3),
  gapMs: Number(env.BENCH_PEER_GAP_MS ?? 100),
})

export interface SideResult {
  label: 'ours' | 'real'
  single: Omit<SingleResult, 'sendToVisible' | 'sendToRaw' | 'post' | 'phases'> & {
    sendToVisible: Summary
    sendToRaw?: Summary
    post: Summary
    phases?: Record<string, Summary>
  }
  burst: Omit<BurstResult, 'sendToVisible'> & { sendToVisible: Summary }
  multi: Omit<BurstResult, 'sendToVisible'> & { sendToVisible: Summary }
  durationMs: number
}

function summarizeBurst(b: BurstResult): SideResult['burst'] {
  const { sendToVisible, ...rest } = b
  return { ...rest, sendToVisible: summarize(sendToVisible) }
}

/** Run the three scenarios on one target; always stops it. */
export async function runSide(t: PeerTarget, cfg: PeerConfig, log: (m: string) => void): Promise<SideResult> {
  const t0 = performance.now()
  try {
    log(`${t.label}: single (${cfg.single} one at a time)`)
    await t.spawnCat('cat-single')
    if (cfg.warmup) await runSingle(t, 'cat-single', 0, cfg.warmup, { gapMs: cfg.gapMs, scenario: 'w' })
    const single = await runSingle(t, 'cat-single', 0, cfg.single, { gapMs: cfg.gapMs, scenario: 's' })

    log(`${t.label}: burst (${cfg.burst} back to back into one cat)`)
    await t.spawnCat('cat-burst')
    if (cfg.warmup) await runSingle(t, 'cat-burst', 1, 1, { gapMs: cfg.gapMs, scenario: 'x' })
    const burst = await runBurst(t, ['cat-burst'], cfg.burst, { scenario: 'b', agentBase: 1, timeoutMs: 120_000 })

    log(`${t.label}: ${cfg.agents} agents × ${cfg.perAgent}, concurrently`)
    const names = Array.from({ length: cfg.agents }, (_, i) => `cat-m${i}`)
    for (const n of names) await t.spawnCat(n)
    if (cfg.warmup) await Promise.all(names.map((n, i) => runSingle(t, n, 10 + i, 1, { gapMs: 0, scenario: 'y' })))
    const multi = await runBurst(t, names, cfg.perAgent, { scenario: 'm', agentBase: 10, timeoutMs: 180_000 })

    const { sendToVisible, sendToRaw, post, phases, ...singleRest } = single
    return {
      label: t.label,
      single: {
        ...singleRest,
        sendToVisible: summarize(sendToVisible),
        sendToRaw: sendToRaw.length ? summarize(sendToRaw) : undefined,
        post: summarize(post),
        phases: phases ? Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, summarize(v)])) : undefined,
      },
      burst: summarizeBurst(burst),
      multi: summarizeBurst(multi),
      durationMs: performance.now() - t0,
    }
  } finally {
    await t.stop()
  }
}

export interface PeerReport {
  at: string
  config: PeerConfig
  ours: SideResult
  real: SideResult | { skipped: string; failed?: boolean }
  ratios?: Record<string, number | null>
  goals?: Record<string, { goal: string; ratio: number | null; met: boolean }>
}

const r2 = (x: number | undefined | null) => (x === undefined || x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000)

export async function runPeer(cfg: PeerConfig, log: (m: string) => void): Promise<PeerReport> {
  const ours = await runSide(await startOurs(), cfg, log)
  const avail = realBrokerAvailability()
  let real: PeerReport['real']
  if (!avail.ok) {
    real = { skipped: avail.reason }
    log(`real broker half SKIPPED: ${avail.reason}`)
  } else {
    try {
      real = await runSide(await startReal(), cfg, log)
    } catch (err) {
      // Ours stays reported; the failure is loud (and makes the run exit non-zero).
      real = { skipped: `the real broker run FAILED: ${(err as Error).message}`, failed: true }
      log(real.skipped)
    }
  }
  const report: PeerReport = { at: new Date().toISOString(), config: cfg, ours, real }
  if (!('skipped' in real)) {
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b ? null : r2(a / b))
    report.ratios = {
      sendToVisibleP50: ratio(ours.single.sendToVisible.p50, real.single.sendToVisible.p50),
      sendToVisibleP90: ratio(ours.single.sendToVisible.p90, real.single.sendToVisible.p90),
      sendToVisibleP99: ratio(ours.single.sendToVisible.p99, real.single.sendToVisible.p99),
      burstAllVisibleMs: ratio(ours.burst.allVisibleMs, real.burst.allVisibleMs),
      multiAllVisibleMs: ratio(ours.multi.allVisibleMs, real.multi.allVisibleMs),
      multiMessagesPerSecond: ratio(ours.multi.messagesPerSecond, real.multi.messagesPerSecond),
    }
    const goal = (r: number | null) => ({ goal: '≤ 0.25', ratio: r, met: r !== null && r <= 0.25 })
    report.goals = { sendToVisibleP50: goal(report.ratios.sendToVisibleP50 ?? null), burstAllVisibleMs: goal(report.ratios.burstAllVisibleMs ?? null) }
  }
  return report
}

// ---- the printed table --------------------------------------------------------

const fmt = (x: number | undefined | null, d = 1) => (x === undefined || x === null || !Number.isFinite(x) ? '—' : x.toFixed(d))
const okText = (c: Correctness) => {
  const typedRight = c.off.filter((o) => o.ptyLog === 2).length
  return (
    `${c.exact}/${c.expected}` +
    (c.missing.length ? ` lost ${c.missing.length}` : '') +
    (c.once.length ? ` once ${c.once.length}` : '') +
    (c.duplicated.length ? ` dup ${c.duplicated.length}` : '') +
    (typedRight ? ` (${typedRight} of them typed right per the broker's PTY log)` : '') +
    (c.observation ? ` [${c.observation}]` : '')
  )
}

export function peerRows(rep: PeerReport): Array<Record<string, string>> {
  const o = rep.ours
  const real = 'skipped' in rep.real ? undefined : rep.real
  const ratio = (a: number | undefined, b: number | undefined, d = 3) => (a === undefined || b === undefined || !b ? '—' : (a / b).toFixed(d))
  const row = (measure: string, ov: number | undefined, rv: number | undefined, goal = '', d = 1) => ({
    measure,
    ours: fmt(ov, d),
    real: real ? fmt(rv, d) : 'skipped',
    'ours/real': real ? ratio(ov, rv) : '—',
    goal,
  })
  const c = rep.config
  return [
    row('single: send → visible p50 (ms)', o.single.sendToVisible.p50, real?.single.sendToVisible.p50, '≤ 0.25'),
    row('single: send → visible p90 (ms)', o.single.sendToVisible.p90, real?.single.sendToVisible.p90),
    row('single: send → visible p99 (ms)', o.single.sendToVisible.p99, real?.single.sendToVisible.p99),
    { measure: '  ours on raw PTY data p50/p99 (ms)', ours: `${fmt(o.single.sendToRaw?.p50, 2)}/${fmt(o.single.sendToRaw?.p99, 2)}`, real: real ? 'n/a' : 'skipped', 'ours/real': '', goal: '' },
    row(`burst ${c.burst} → 1 agent: last visible (ms)`, o.burst.allVisibleMs, real?.burst.allVisibleMs, '≤ 0.25', 0),
    row(`burst ${c.burst}: messages/s`, o.burst.messagesPerSecond, real?.burst.messagesPerSecond),
    row(`burst ${c.burst}: send → visible p50 (ms)`, o.burst.sendToVisible.p50, real?.burst.sendToVisible.p50, '', 0),
    row(`${c.agents} agents × ${c.perAgent}: all visible (ms)`, o.multi.allVisibleMs, real?.multi.allVisibleMs, '', 0),
    row(`${c.agents} agents × ${c.perAgent}: messages/s`, o.multi.messagesPerSecond, real?.multi.messagesPerSecond),
    {
      measure: 'exactly once (single/burst/multi)',
      ours: [o.single, o.burst, o.multi].map((s) => okText(s.correctness)).join(' '),
      real: real ? [real.single, real.burst, real.multi].map((s) => okText(s.correctness)).join(' ') : 'skipped',
      'ours/real': '',
      goal: 'all',
    },
  ]
}
