/**
 * Engine cluster figures for `npm run bench` (part `cluster`): several engine instances on one
 * PostgreSQL database (child processes, test/support/engine-cluster.ts), driven from this
 * process with simulated broker nodes (test/support/load-node.ts).
 *
 * 1. push — 2 instances with the re-drive sweep off (RELAY_REDRIVE_MS=600000), so mail can only
 *    move by the LISTEN/NOTIFY push. One DM at a time over REST to instance A, alternating
 *    between an agent whose node is on instance B (cross-instance) and one whose node is on A
 *    (same-instance baseline); each figure is POST start → the deliver frame received
 *    ("typed") by the LoadNode, BENCH_CLUSTER_PUSH_SENDS (300) of each after 20 warm-ups.
 *    Goal (issue 14): cross-instance p50 ≤ 50 ms.
 * 2. load — the issue's size: 3 instances, 30 nodes × 10 agents, 30,000 DMs (runClusterLoad:
 *    round-robin POSTs with idempotency keys and retries on the next instance); instance 1
 *    SIGKILLed at 30 % of the DMs posted and restarted at 60 %. Lost, typed twice and order
 *    violations are bugs; for each one the evidence (agent, seqs, the rows in PostgreSQL, the
 *    instances' warn/error log lines) goes to the report and the JSON.
 *
 * Overrides (to run it smaller): BENCH_CLUSTER_DMS, BENCH_CLUSTER_NODES,
 * BENCH_CLUSTER_AGENTS_PER_NODE, BENCH_CLUSTER_INSTANCES, BENCH_CLUSTER_SENDERS,
 * BENCH_CLUSTER_CONCURRENCY, BENCH_CLUSTER_KILL_AT, BENCH_CLUSTER_RESTART_AT,
 * BENCH_CLUSTER_REDRIVE_MS (load phase; default: the engine's own), BENCH_CLUSTER_DRAIN_MS,
 * BENCH_CLUSTER_REGISTER_TIMEOUT_MS (the LoadNodes' agent.register bound, default 30 s like the broker),
 * BENCH_CLUSTER_PUSH_SENDS, BENCH_CLUSTER_SKIP_PUSH=1 / BENCH_CLUSTER_SKIP_LOAD=1,
 * BENCH_CLUSTER_CPU_PROF=<dir> (each instance writes a CPU profile there when it stops).
 */
import { Agent, request } from 'node:http'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { killAndRestart, runClusterLoad, type ClusterLoadResult } from '../support/cluster-load'
import { startEngineCluster, type EngineCluster } from '../support/engine-cluster'
import { LoadNode, type TypedMessage } from '../support/load-node'
import { postgresAvailability, usePostgres, type PostgresCluster } from '../support/postgres'
import { summarize, type Row, type Summary } from './stats'

const num = (name: string, dflt: number) => {
  const v = process.env[name]
  return v === undefined || v === '' ? dflt : Number(v)
}

export function clusterConfig() {
  return {
    push: {
      sends: num('BENCH_CLUSTER_PUSH_SENDS', 300),
      warmup: 20,
      skip: process.env.BENCH_CLUSTER_SKIP_PUSH === '1',
    },
    load: {
      instances: num('BENCH_CLUSTER_INSTANCES', 3),
      nodes: num('BENCH_CLUSTER_NODES', 30),
      agentsPerNode: num('BENCH_CLUSTER_AGENTS_PER_NODE', 10),
      dms: num('BENCH_CLUSTER_DMS', 30_000),
      senders: num('BENCH_CLUSTER_SENDERS', 10),
      concurrency: num('BENCH_CLUSTER_CONCURRENCY', 32),
      killAt: num('BENCH_CLUSTER_KILL_AT', 0.3),
      restartAt: num('BENCH_CLUSTER_RESTART_AT', 0.6),
      killInstance: 1,
      redriveMs: process.env.BENCH_CLUSTER_REDRIVE_MS ? Number(process.env.BENCH_CLUSTER_REDRIVE_MS) : undefined,
      drainTimeoutMs: num('BENCH_CLUSTER_DRAIN_MS', 180_000),
      // The broker waits 30 s for an agent.register reply (AGENT_REGISTER_TIMEOUT_MS in
      // electron/broker/node-client.ts); the LoadNode's own default is 5 s for all its agents.
      registerTimeoutMs: num('BENCH_CLUSTER_REGISTER_TIMEOUT_MS', 30_000),
      skip: process.env.BENCH_CLUSTER_SKIP_LOAD === '1',
    },
  }
}
export type ClusterConfig = ReturnType<typeof clusterConfig>

/** Why the part cannot run here (no PostgreSQL), or undefined. */
export function clusterSkipReason(): string | undefined {
  const a = postgresAvailability()
  return a.ok ? undefined : a.reason
}

const PUSH_GOAL_P50_MS = 50
const NO_SWEEP_MS = '600000'
const load1 = () => Math.round(loadavg()[0]! * 100) / 100

// ---------------------------------------------------------------- REST (node:http, keep-alive)

const pool = new Agent({ keepAlive: true, maxSockets: 8 })

function call(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(url + path, {
      method,
      agent: pool,
      timeout: 10_000,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        let parsed: any
        try {
          parsed = JSON.parse(Buffer.concat(chunks).toString())
        } catch {
          parsed = {}
        }
        resolve({ status: res.statusCode ?? 0, body: parsed })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

async function ok(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const r = await call(url, method, path, token, body)
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path} on ${url} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`)
  return r.body.data
}

// ---------------------------------------------------------------- 1. push latency

export interface PushResult {
  sends: number
  /** POST on A → typed by the node on B (ms). */
  crossTyped: Summary
  /** POST on A → typed by the node on A (ms). */
  localTyped: Summary
  /** POST on A → its 201 (ms), both kinds of send. */
  response: Summary
  /** Sends whose deliver never arrived within 10 s (with sweeps off: a push that was lost). */
  missed: Array<{ to: 'cross' | 'local'; text: string; msgId?: string }>
  /** Raw samples (ms), in send order. */
  samples: { cross: number[]; local: number[] }
  loadAverage1mAfter: number
  instanceLogs: InstanceLog[]
}

async function benchPush(pgc: PostgresCluster, cfg: ClusterConfig['push'], log: (m: string) => void): Promise<PushResult> {
  const cluster = await startEngineCluster({ instances: 2, databaseUrl: await pgc.createDatabase({ prefix: 'bench_push' }), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
  const nodes: LoadNode[] = []
  try {
    const [a, b] = cluster.urls as [string, string]
    const ws = await ok(a, 'POST', '/v1/workspaces', undefined, { name: 'bench-push' })
    const key = ws.api_key as string
    const enroll = async (name: string) =>
      (await ok(a, 'POST', '/v1/nodes', key, { node_id: `node_${name.replace(/\W/g, '')}`, name, kind: 'ws', role: 'broker', version: 'relay-broker/load-node' })).token as string
    const sender = (await ok(a, 'POST', '/v1/agents', key, { name: 'bench-sender', type: 'agent' })).token as string
    const far = new LoadNode({ urls: [b], token: await enroll('far-node'), nodeId: 'node_farnode', name: 'far-node', agents: ['far'] })
    const near = new LoadNode({ urls: [a], token: await enroll('near-node'), nodeId: 'node_nearnode', name: 'near-node', agents: ['near'] })
    nodes.push(far, near)
    await Promise.all(nodes.map((n) => n.start(15_000)))

    const waiters = new Map<string, (t: TypedMessage) => void>()
    const onTyped = (t: TypedMessage) => waiters.get(t.text)?.(t)
    far.on('typed', onTyped)
    near.on('typed', onTyped)

    const samples = { cross: [] as number[], local: [] as number[] }
    const response: number[] = []
    const missed: PushResult['missed'] = []
    const sendOne = async (to: 'cross' | 'local', i: number, record: boolean) => {
      const text = `push ${to} #${i}`
      let timer: NodeJS.Timeout | undefined
      const typed = new Promise<TypedMessage | undefined>((resolve) => {
        waiters.set(text, resolve)
        timer = setTimeout(() => resolve(undefined), 10_000)
      })
      const start = performance.now()
      const r = await call(a, 'POST', '/v1/dm', sender, { to: to === 'cross' ? 'far' : 'near', text })
      const answered = performance.now()
      if (r.status !== 201 && r.status !== 200) throw new Error(`POST /v1/dm → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`)
      const t = await typed
      clearTimeout(timer)
      waiters.delete(text)
      if (!t) {
        missed.push({ to, text, msgId: r.body?.data?.id })
        log(`push: ${text} (${r.body?.data?.id}) not typed within 10 s`)
        return
      }
      if (!record) return
      samples[to].push(t.at - start)
      response.push(answered - start)
    }
    // Alternating, so background load on this machine falls on both figures alike.
    for (let i = 0; i < cfg.warmup; i++) {
      await sendOne('cross', i, false)
      await sendOne('local', i, false)
    }
    for (let i = 0; i < cfg.sends; i++) {
      await sendOne('cross', cfg.warmup + i, true)
      await sendOne('local', cfg.warmup + i, true)
    }
    const loadAfter = load1()
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    return {
      sends: cfg.sends,
      crossTyped: summarize(samples.cross),
      localTyped: summarize(samples.local),
      response: summarize(response),
      missed,
      samples: { cross: samples.cross.map(r2), local: samples.local.map(r2) },
      loadAverage1mAfter: loadAfter,
      instanceLogs: instanceLogs(cluster),
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
    await cluster.stop()
  }
}

const r2 = (x: number) => Math.round(x * 100) / 100

// ---------------------------------------------------------------- 2. load + fault

export interface InstanceLog {
  instance: number
  /** warn/error lines in the kept stderr (last 64 KiB per instance), by message. */
  counts: Record<string, number>
  /** Up to 10 of those lines, as printed. */
  sample: string[]
}

function instanceLogs(cluster: EngineCluster): InstanceLog[] {
  return Array.from({ length: cluster.size }, (_, i) => {
    const counts: Record<string, number> = {}
    const sample: string[] = []
    for (const line of cluster.stderr(i).split('\n')) {
      if (!line.trim()) continue
      let level = ''
      let msg = line.slice(0, 120)
      try {
        const j = JSON.parse(line) as { level?: string; msg?: string }
        level = j.level ?? ''
        msg = j.msg ?? msg
      } catch {
        level = 'raw' // not a JSON log line: a crash trace or the fixture's own words
      }
      if (level !== 'warn' && level !== 'error' && level !== 'raw') continue
      const k = `${level}: ${msg}`
      counts[k] = (counts[k] ?? 0) + 1
      if (sample.length < 10) sample.push(line.slice(0, 400))
    }
    return { instance: i, counts, sample }
  })
}

export interface Anomalies {
  /** Posted, never typed: the DM, its agent, what PostgreSQL holds for it, the node's view. */
  lost: Array<{ dm: number; agent: string; rows: Array<{ msgId: string; seq: number; status: string; deliveredAt: number | null; ackedAt: number | null }>; nodeCursor?: number; nodeHeld?: number }>
  /** The same DM typed more than once by an agent: its seqs and msg ids. */
  typedTwice: Array<{ agent: string; text: string; seqs: number[]; msgIds: string[] }>
  /** A later DM of a sender→agent stream typed before an earlier one. */
  orderViolations: Array<{ agent: string; sender: number; k: number; seq: number; afterK: number; afterSeq: number }>
  /** DMs committed more than once in the store (the idempotency key did not hold). */
  committedTwice: Array<{ text: string; ids: string[] }>
  /** Deliveries by status at the end (all agents of the run). */
  deliveriesByStatus: Record<string, number>
}

export interface LoadBenchResult {
  config: Omit<ClusterConfig['load'], 'skip'>
  /** Instance index per engine URL (for reading the failovers). */
  urls: string[]
  result: ClusterLoadResult
  /** Each LoadNode fail-over hop: socket close → node.register answered (ms). */
  failoverMs: { n: number; median: number; max: number }
  /**
   * Per node that lost its instance: first socket close → every agent registered again,
   * across hops (a node whose agent.register timed out on one instance moves on again).
   */
  outageMs: { n: number; median: number; max: number }
  /** After the last DM was typed: until the store shows no queued/delivered row (the acks are durable), ms; -1 = not within 30 s. */
  acksDurableAfterDrainMs: number
  /**
   * Per DM: typed by its node → its ack committed (deliveries.acked_at, the engine's wall clock),
   * ms. The nodes ack in the same event-loop turn, so this is the time the ack spent in the engine.
   */
  typedToAckDurableMs: Summary
  anomalies: Anomalies
  instanceLogs: InstanceLog[]
  exits: EngineCluster['exits']
  loadAverage1mAfter: number
}

const TEXT_RE = /^dm#(\d+) s(\d+) k(\d+) /

function medianMax(xs: number[]): { n: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b)
  if (!s.length) return { n: 0, median: NaN, max: NaN }
  const mid = Math.floor(s.length / 2)
  return { n: s.length, median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! }
}

async function findAnomalies(databaseUrl: string, nodes: LoadNode[], r: ClusterLoadResult): Promise<Anomalies> {
  const out: Anomalies = { lost: [], typedTwice: [], orderViolations: [], committedTwice: [], deliveriesByStatus: {} }
  for (const n of nodes) {
    for (const agent of n.agentNames) {
      const byText = new Map<string, TypedMessage[]>()
      const lastK = new Map<number, { k: number; seq: number }>()
      for (const t of n.typed(agent)) {
        const list = byText.get(t.text) ?? []
        list.push(t)
        byText.set(t.text, list)
        const m = TEXT_RE.exec(t.text)
        if (!m) continue
        const s = Number(m[2])
        const k = Number(m[3])
        const prev = lastK.get(s)
        if (prev && k <= prev.k) {
          if (out.orderViolations.length < 50) out.orderViolations.push({ agent, sender: s, k, seq: t.seq, afterK: prev.k, afterSeq: prev.seq })
        } else lastK.set(s, { k, seq: t.seq })
      }
      for (const [text, list] of byText) {
        if (list.length > 1 && out.typedTwice.length < 50) out.typedTwice.push({ agent, text, seqs: list.map((t) => t.seq), msgIds: list.map((t) => t.msgId) })
      }
    }
  }
  const db = new pg.Client({ connectionString: databaseUrl })
  db.on('error', () => undefined)
  try {
    await db.connect()
    const st = await db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM deliveries GROUP BY status')
    for (const row of st.rows) out.deliveriesByStatus[row.status] = Number(row.n)
    const twice = await db.query<{ text: string; ids: string[] }>(
      `SELECT text, array_agg(id ORDER BY pos) AS ids FROM messages WHERE text LIKE 'dm#%' GROUP BY text HAVING count(*) > 1 LIMIT 50`)
    out.committedTwice = twice.rows
    const agentOf = new Map<string, LoadNode>()
    for (const n of nodes) for (const a of n.agentNames) agentOf.set(a, n)
    for (const dm of r.lostSample) {
      const rows = await db.query<{ id: string; seq: string; status: string; delivered_at: string | null; acked_at: string | null; name: string }>(
        `SELECT m.id, d.seq, d.status, d.delivered_at, d.acked_at, a.name FROM messages m
           JOIN deliveries d ON d.message_id = m.id JOIN agents a ON a.id = d.agent_id
          WHERE m.text LIKE $1`, [`dm#${dm} %`])
      const agent = rows.rows[0]?.name ?? '?'
      const node = agentOf.get(agent)
      out.lost.push({
        dm, agent,
        rows: rows.rows.map((x) => ({ msgId: x.id, seq: Number(x.seq), status: x.status, deliveredAt: x.delivered_at === null ? null : Number(x.delivered_at), ackedAt: x.acked_at === null ? null : Number(x.acked_at) })),
        nodeCursor: node?.cursor(agent),
        nodeHeld: node?.stats().perAgent[agent]?.held,
      })
    }
  } catch (err) {
    out.lost.push({ dm: -1, agent: `(store query failed: ${String(err)})`, rows: [] })
  } finally {
    await db.end().catch(() => undefined)
  }
  return out
}

/** Per node: first close → ready again, chaining hops that never got every agent registered. */
function outages(nodes: LoadNode[]): number[] {
  const out: number[] = []
  for (const n of nodes) {
    let start: number | undefined
    for (const f of n.stats().failovers) {
      start ??= f.closedAt
      if (f.agentsMs === undefined) continue
      out.push(f.closedAt + f.agentsMs - start)
      start = undefined
    }
  }
  return out
}

/**
 * After the drain: how long until every delivery row is acked in the store. Polled (100 ms),
 * outside any timed window: the nodes have sent their acks; this is the engines' ack commits catching up.
 */
async function untilAcksDurable(databaseUrl: string, boundMs: number): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl })
  db.on('error', () => undefined)
  const t0 = performance.now()
  try {
    await db.connect()
    for (;;) {
      const r = await db.query<{ n: string }>("SELECT count(*) AS n FROM deliveries WHERE status IN ('queued', 'delivered')")
      if (Number(r.rows[0]?.n) === 0) return Math.round(performance.now() - t0)
      if (performance.now() - t0 > boundMs) return -1
      await new Promise((res) => setTimeout(res, 100))
    }
  } catch {
    return -1
  } finally {
    await db.end().catch(() => undefined)
  }
}

/** typed (first time, this process's clock) → acked_at in the store (engine's Date.now()), per DM. */
async function ackLag(databaseUrl: string, nodes: LoadNode[]): Promise<Summary> {
  const typedAt = new Map<string, number>()
  for (const n of nodes) for (const t of n.allTyped()) if (!typedAt.has(t.msgId)) typedAt.set(t.msgId, performance.timeOrigin + t.at)
  const db = new pg.Client({ connectionString: databaseUrl })
  db.on('error', () => undefined)
  try {
    await db.connect()
    const rows = await db.query<{ message_id: string; acked_at: string | null }>("SELECT message_id, acked_at FROM deliveries WHERE status = 'acked'")
    const lags: number[] = []
    for (const r of rows.rows) {
      const t = typedAt.get(r.message_id)
      if (t !== undefined && r.acked_at !== null) lags.push(Number(r.acked_at) - t)
    }
    return summarize(lags)
  } catch {
    return summarize([])
  } finally {
    await db.end().catch(() => undefined)
  }
}

async function benchLoad(pgc: PostgresCluster, cfg: ClusterConfig['load'], log: (m: string) => void): Promise<LoadBenchResult> {
  const databaseUrl = await pgc.createDatabase({ prefix: 'bench_load' })
  const cluster = await startEngineCluster({
    instances: cfg.instances, databaseUrl,
    env: {
      ...(cfg.redriveMs === undefined ? {} : { RELAY_REDRIVE_MS: String(cfg.redriveMs) }),
      // A folder: each instance writes a .cpuprofile there when it stops (test/engine/fixtures/cluster-instance.ts).
      ...(process.env.BENCH_CLUSTER_CPU_PROF ? { RELAY_CPU_PROF: process.env.BENCH_CLUSTER_CPU_PROF } : {}),
    },
  })
  try {
    let nodes: LoadNode[] = []
    log(`load: ${cfg.instances} instances, ${cfg.nodes} nodes × ${cfg.agentsPerNode} agents, ${cfg.dms} DMs, ` +
      `SIGKILL instance ${cfg.killInstance} at ${cfg.killAt * 100} %, restart at ${cfg.restartAt * 100} %`)
    const progress = setInterval(() => {
      const typed = nodes.reduce((s, n) => s + n.typedCount, 0)
      log(`load: ${typed} typed, load ${load1()}`)
    }, 10_000)
    let result: ClusterLoadResult
    try {
      result = await runClusterLoad({
        urls: cluster.urls, nodes: cfg.nodes, agentsPerNode: cfg.agentsPerNode, dms: cfg.dms, senders: cfg.senders,
        concurrency: cfg.concurrency,
        faults: killAndRestart(cluster, cfg.killInstance, { killAt: cfg.killAt, restartAt: cfg.restartAt }).map((f) => ({
          ...f,
          run: async () => {
            log(`load: ${f.label}`)
            await f.run()
          },
        })),
        readyTimeoutMs: 60_000,
        loadNode: { registerTimeoutMs: cfg.registerTimeoutMs },
        drainTimeoutMs: cfg.drainTimeoutMs,
        onReady: (ctx) => {
          nodes = ctx.nodes
        },
      })
    } finally {
      clearInterval(progress)
    }
    const loadAfter = load1()
    const acksDurableAfterDrainMs = await untilAcksDurable(databaseUrl, 30_000)
    const typedToAckDurableMs = await ackLag(databaseUrl, nodes)
    const anomalies = await findAnomalies(databaseUrl, nodes, result)
    const { skip: _skip, ...config } = cfg
    return {
      config,
      urls: cluster.urls,
      result,
      failoverMs: medianMax(result.failovers.map((f) => f.ms)),
      outageMs: medianMax(outages(nodes)),
      acksDurableAfterDrainMs,
      typedToAckDurableMs,
      anomalies,
      instanceLogs: instanceLogs(cluster),
      exits: [...cluster.exits],
      loadAverage1mAfter: loadAfter,
    }
  } finally {
    await cluster.stop()
  }
}

// ---------------------------------------------------------------- the part

export interface ClusterBenchResult {
  push?: PushResult
  load?: LoadBenchResult
  postgres: { source: string; startupMs: number }
}

export async function benchCluster(log: (m: string) => void, cfg: ClusterConfig = clusterConfig()): Promise<ClusterBenchResult> {
  const pgc = await usePostgres()
  try {
    const out: ClusterBenchResult = { postgres: { source: pgc.startupMs ? 'local' : 'shared', startupMs: pgc.startupMs } }
    if (!cfg.push.skip) {
      log(`push: 2 instances, sweeps off, ${cfg.push.sends} sends each way`)
      out.push = await benchPush(pgc, cfg.push, log)
    }
    if (!cfg.load.skip) out.load = await benchLoad(pgc, cfg.load, log)
    return out
  } finally {
    await pgc.stop()
    pool.destroy()
  }
}

const verdict = (met: boolean) => (met ? 'MET' : 'MISSED')
const zero = (n: number) => `= 0: ${verdict(n === 0)}`

export function clusterRows(r: ClusterBenchResult): Row[] {
  const rows: Row[] = []
  const row = (measure: string, value: number | string, goal = '') => rows.push({ measure, value: typeof value === 'number' && Number.isFinite(value) ? r2(value) : String(value), goal })
  if (r.push) {
    const p = r.push
    row('push: POST on A → typed on B, p50 ms', p.crossTyped.p50, `≤ ${PUSH_GOAL_P50_MS}: ${verdict(p.crossTyped.p50 <= PUSH_GOAL_P50_MS)}`)
    row('push: POST on A → typed on B, p99 ms', p.crossTyped.p99)
    row('same instance: POST on A → typed on A, p50 ms', p.localTyped.p50)
    row('same instance: POST on A → typed on A, p99 ms', p.localTyped.p99)
    row('cost of the push (cross − same), p50 ms', p.crossTyped.p50 - p.localTyped.p50)
    row('POST on A → 201, p50 ms', p.response.p50)
    row('push: sends (each way) / not typed in 10 s', `${p.sends} / ${p.missed.length}`, zero(p.missed.length))
  }
  if (r.load) {
    const { result: x, config: c } = r.load
    row(`load: DMs posted (of ${c.dms})`, x.posted)
    row('load: typed', x.typed)
    row('load: lost', x.lost, zero(x.lost))
    row('load: typed twice', x.duplicates, zero(x.duplicates))
    row('load: order violations (per stream)', x.orderViolationsTotal, zero(x.orderViolationsTotal))
    row('load: seq gaps typed out of order / seqs skipped', `${x.seqOutOfOrder} / ${x.skipped}`, zero(x.seqOutOfOrder + x.skipped))
    row('load: messages/s', x.messagesPerSecond)
    row('load: first POST → typed, p50 ms', x.latencyMs.p50)
    row('load: first POST → typed, p99 ms', x.latencyMs.p99)
    row('load: first POST → typed, max ms', x.latencyMs.max)
    row('load: fail-overs (node moves)', x.failovers.length)
    row('load: fail-over close → node.register, median ms', r.load.failoverMs.median)
    row('load: fail-over close → node.register, max ms', r.load.failoverMs.max)
    row('load: node outage (close → all agents registered), median ms', r.load.outageMs.median)
    row('load: node outage (close → all agents registered), max ms', r.load.outageMs.max)
    row('load: typed → ack committed in the store, p50 ms', r.load.typedToAckDurableMs.p50)
    row('load: typed → ack committed in the store, p99 ms', r.load.typedToAckDurableMs.p99)
    row('load: acks durable in the store, ms after the drain', r.load.acksDurableAfterDrainMs)
    row('load: POST retries / replayed', `${x.postRetries} / ${x.replayed}`)
    row('load: stale redeliveries / gaps held', `${x.stale} / ${x.gapsHeld}`)
    row('load: agent.register timeouts (node moved on)', x.errors.filter((e) => e.includes('agent.register not answered')).length)
    row('load: driver errors', x.errors.length)
    row('load: duration s', Math.round(x.durationMs / 100) / 10)
  }
  return rows
}

/** Text after the table: the load average during the run, and every anomaly with its evidence. */
export function clusterAfter(runs: ClusterBenchResult[]): string {
  const lines: string[] = []
  runs.forEach((r, i) => {
    const tag = runs.length > 1 ? `run ${i + 1}: ` : ''
    const la = [r.push && `push ${r.push.loadAverage1mAfter}`, r.load && `load+fault ${r.load.loadAverage1mAfter}`].filter(Boolean).join(', ')
    const cfg = r.load?.config
    lines.push(`${tag}1-min load average at the end of: ${la}` +
      (cfg ? ` · load: ${cfg.instances} instances, ${cfg.nodes} nodes × ${cfg.agentsPerNode} agents, ${cfg.senders} senders, ${cfg.concurrency} POSTs in flight, sweep ${cfg.redriveMs ?? 'engine default'} ms, agent.register bound ${cfg.registerTimeoutMs} ms` : ''))
    if (r.load) {
      const x = r.load.result
      const urls = r.load.urls
      const named = (t: string) => urls.reduce((acc, u, k) => acc.split(u).join(`instance ${k}`), t)
      lines.push(`${tag}fail-overs (node from→to, close→node.register/→all agents ms): ${x.failovers.slice(0, 12).map((f) => named(`${f.node.replace(/^load-\w+-/, 'node ')} ${f.from}→${f.to} ${f.ms}/${f.agentsMs ?? '—'} ms`)).join('; ') || 'none'}${x.failovers.length > 12 ? ` … (${x.failovers.length} in all)` : ''}`)
      lines.push(`${tag}faults: ${x.faults.map((f) => `${f.label} at ${f.atMs} ms (${f.posted} posted, took ${f.ms ?? '?'} ms${f.error ? `, ERROR ${f.error}` : ''})`).join('; ')}`)
      const a = r.load.anomalies
      lines.push(`${tag}deliveries in the store by status: ${JSON.stringify(a.deliveriesByStatus)}`)
      for (const l of a.lost.slice(0, 10)) lines.push(`${tag}LOST dm#${l.dm} → ${l.agent}: node cursor ${l.nodeCursor}, held ${l.nodeHeld}; store ${JSON.stringify(l.rows)}`)
      for (const d of a.typedTwice.slice(0, 10)) lines.push(`${tag}TYPED TWICE ${d.agent} "${d.text}": seqs ${d.seqs.join(',')} msg ids ${d.msgIds.join(',')}`)
      for (const o of a.orderViolations.slice(0, 10)) lines.push(`${tag}ORDER ${o.agent} sender ${o.sender}: k${o.k} (seq ${o.seq}) typed after k${o.afterK} (seq ${o.afterSeq})`)
      for (const c of a.committedTwice.slice(0, 10)) lines.push(`${tag}COMMITTED TWICE "${c.text}": ${c.ids.join(',')}`)
      for (const e of x.errors.slice(0, 10)) lines.push(`${tag}driver: ${named(e)}`)
      const unexpected = r.load.exits.filter((e) => !e.expected)
      for (const e of unexpected) lines.push(`${tag}instance ${e.instance} (pid ${e.pid}) DIED on its own: code ${e.code} signal ${e.signal}`)
      for (const l of r.load.instanceLogs) {
        const entries = Object.entries(l.counts)
        if (entries.length) lines.push(`${tag}instance ${l.instance} warn/error log lines: ${entries.map(([k, n]) => `${k} ×${n}`).join('; ')}`)
      }
      const bad = x.lost + x.duplicates + x.orderViolationsTotal + x.seqOutOfOrder + x.skipped + a.committedTwice.length
      if (bad > 0) process.exitCode = 1
    }
    if (r.push?.missed.length) {
      for (const m of r.push.missed.slice(0, 10)) lines.push(`${tag}PUSH MISSED ${m.to} "${m.text}" (${m.msgId})`)
      process.exitCode = 1
    }
  })
  return lines.length ? `\n${lines.join('\n')}\n` : ''
}
