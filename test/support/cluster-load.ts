/**
 * Load driver for one engine or a cluster of instances on one database:
 *
 *   const r = await runClusterLoad({ urls: cluster.urls, nodes: 4, agentsPerNode: 5, dms: 5000, senders: 8,
 *     faults: killAndRestart(cluster, 1, { killAt: 0.3, restartAt: 0.6 }) })
 *   expect(r.lost).toBe(0); expect(r.duplicates).toBe(0)
 *
 * 1. Seeds over REST (first url that answers): a workspace, `nodes` enrolled nodes, `senders`
 *    sender agents (POST /v1/agents).
 * 2. Starts one LoadNode per node with every url, node k starting on urls[k % n], and waits
 *    until each has registered its `agentsPerNode` agents.
 * 3. Posts `dms` DMs over REST, DM i first to urls[i % n] (round robin), with bounded
 *    concurrency. DM i goes from sender floor(i / A) % senders to agent i % A (A = all agents),
 *    text `dm#<i> s<sender> k<k> <run>` (k = its place in that sender→agent stream), and an
 *    `Idempotency-Key` unique to it: a POST that failed (connection refused/reset, 5xx,
 *    timeout, 429) is retried on the NEXT url, and if the first attempt had committed the
 *    engine answers the retry with the same message (`replayed`), not a second one. One
 *    stream posts its DMs one after the other (the next once the previous was answered), so
 *    within a stream the typing order is defined: a later k typed before an earlier one is an
 *    order violation.
 * 4. Fault hooks run when a fraction of the DMs has been posted (e.g. SIGKILL an instance at
 *    30 %, restart it at 60 %); posting does not wait for them, the drain does.
 * 5. Waits (on the LoadNodes' typed events, bounded) until every posted DM is typed, then
 *    reports. A DM not typed by the bound is lost; nothing here throws on a bad outcome.
 */
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { performance } from 'node:perf_hooks'
import type { EngineCluster } from './engine-cluster'
import { percentile as percentileOf } from '../bench/stats'
import { LoadNode, type LoadNodeOptions, type TypedMessage } from './load-node'

export interface LoadFault {
  /** Fraction (0..1) of `dms` successfully posted at which `run` starts. */
  at: number
  label?: string
  run: () => unknown
}

export interface ClusterLoadOptions {
  urls: string[]
  nodes: number
  agentsPerNode: number
  dms: number
  senders: number
  /** POSTs in flight at once (default 32). */
  concurrency?: number
  faults?: LoadFault[]
  /** Bound for the LoadNodes to register (default 20 s). */
  readyTimeoutMs?: number
  /** One POST attempt (default 10 s). */
  postTimeoutMs?: number
  /** All attempts of one DM (default 60 s); past it the DM counts as an error, not posted. */
  postDeadlineMs?: number
  /** After the last POST, how long to wait for every posted DM to be typed (default 60 s). */
  drainTimeoutMs?: number
  /** Overrides for every LoadNode (backoff, timeouts). */
  loadNode?: Pick<LoadNodeOptions, 'backoffMs' | 'connectTimeoutMs' | 'registerTimeoutMs' | 'heartbeatMs'>
  /** Called once the world is seeded and the nodes are ready, before the first POST. */
  onReady?: (ctx: { nodes: LoadNode[]; workspaceKey: string }) => unknown
}

export interface FailoverRecord {
  node: string
  from: string
  to: string
  /** Close → first successful node.register reply. */
  ms: number
  /** Close → every agent re-registered. */
  agentsMs?: number
  attempts: number
}

export interface ClusterLoadResult {
  /** DMs the engine answered 2xx for. */
  posted: number
  /** Distinct posted DMs typed. */
  typed: number
  /** Posted but never typed within the bound. */
  lost: number
  /** Up to 20 lost DM indices. */
  lostSample: number[]
  /** Extra typings of a DM (the same DM typed twice counts 1): must be 0. */
  duplicates: number
  /** The same msg_id typed twice, as the LoadNodes saw it. */
  msgIdDuplicates: number
  /** Per agent: DMs of one sender typed before an earlier DM of the same stream. */
  orderViolations: Record<string, number>
  orderViolationsTotal: number
  /** LoadNode-level: typed seq not previous+1 (only after a skip). */
  seqOutOfOrder: number
  /** Seqs never typed because an engine reported an ack cursor ahead of the node's. */
  skipped: number
  /** Typed DMs whose POST did not succeed (committed, answer lost, retries exhausted). */
  typedUnposted: number
  /** posted / (last typed − first POST). */
  messagesPerSecond: number
  /** First POST sent → typed, per DM (ms). */
  latencyMs: { p50: number; p99: number; max: number }
  failovers: FailoverRecord[]
  reconnects: number
  /** POST attempts beyond the first. */
  postRetries: number
  /** Retries the engine answered with the already-committed message. */
  replayed: number
  /** Stale redeliveries (seq <= cursor) the nodes re-acked without typing. */
  stale: number
  /** Frames that arrived ahead of a missing seq and were held (the product broker would drop them and wait for a resend). */
  gapsHeld: number
  faults: Array<{ label: string; atMs: number; posted: number; ms?: number; error?: string }>
  errors: string[]
  durationMs: number
  /** Per node LoadNode summary line. */
  nodes: string[]
}

interface DmRecord {
  index: number
  sender: number
  agent: string
  k: number
  text: string
  key: string
  firstSentAt?: number
  postedAt?: number
  attempts: number
  msgId?: string
  typedAt: number[]
}

interface Answer { status: number; body: any }

const TEXT_RE = /^dm#(\d+) s(\d+) k(\d+) /

/** SIGKILL (or SIGTERM) instance `instance` at `killAt` of the DMs posted, restart it at `restartAt`. */
export function killAndRestart(
  cluster: Pick<EngineCluster, 'kill' | 'restart'>,
  instance: number,
  opts: { killAt: number; restartAt: number; signal?: 'SIGKILL' | 'SIGTERM' },
): LoadFault[] {
  return [
    { at: opts.killAt, label: `${opts.signal ?? 'SIGKILL'} instance ${instance}`, run: () => cluster.kill(instance, opts.signal ?? 'SIGKILL') },
    { at: opts.restartAt, label: `restart instance ${instance}`, run: () => cluster.restart(instance) },
  ]
}

/** `p` as a fraction (0.5, 0.99); 0 for no samples. */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : percentileOf(sorted, p * 100)
}

/** JSON over node:http; rejects on connection errors and after `timeoutMs`. */
function httpJson(pool: Agent, url: string, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string>; timeoutMs: number }): Promise<Answer> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...opts.headers }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = Buffer.byteLength(payload)
    }
    const req = request(url + path, { method, agent: pool, headers, timeout: opts.timeoutMs })
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs} ms`)))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = { raw: text.slice(0, 200) }
        }
        resolve({ status: res.statusCode ?? 0, body })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** FIFO counting semaphore. */
class Gate {
  private waiting: Array<() => void> = []
  constructor(private free: number) {}
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--
      return
    }
    await new Promise<void>((r) => this.waiting.push(r))
  }
  give(): void {
    const next = this.waiting.shift()
    if (next) next()
    else this.free++
  }
}

export async function runClusterLoad(opts: ClusterLoadOptions): Promise<ClusterLoadResult> {
  const { urls, nodes: nodeCount, agentsPerNode, dms, senders } = opts
  if (urls.length === 0) throw new Error('runClusterLoad: no urls')
  if (nodeCount < 1 || agentsPerNode < 1 || senders < 1 || dms < 0) throw new Error('runClusterLoad: nodes, agentsPerNode, senders must be ≥ 1')
  const run = randomBytes(4).toString('hex')
  const pool = new Agent({ keepAlive: true, maxSockets: Math.max(8, opts.concurrency ?? 32) })
  const errors: string[] = []
  const error = (msg: string) => {
    if (errors.length < 500) errors.push(msg)
  }
  const postTimeoutMs = opts.postTimeoutMs ?? 10_000

  /** A REST call for seeding: the first url that answers at all. */
  const seed = async (method: string, path: string, token: string | undefined, body: unknown): Promise<any> => {
    let last = ''
    for (const url of urls) {
      try {
        const r = await httpJson(pool, url, method, path, { token, body, timeoutMs: postTimeoutMs })
        if (r.status >= 200 && r.status < 300) return r.body.data
        if (r.status < 500) throw new Error(`${method} ${path} on ${url}: ${r.status} ${JSON.stringify(r.body)}`)
        last = `${r.status} ${JSON.stringify(r.body)}`
      } catch (err) {
        if ((err as Error).message.startsWith(`${method} ${path}`)) throw err
        last = (err as Error).message
      }
    }
    throw new Error(`${method} ${path}: no url answered (${last})`)
  }

  // ---- 1. the world ---------------------------------------------------------------------
  const ws = await seed('POST', '/v1/workspaces', undefined, { name: `load-${run}` })
  const wsKey = ws.api_key as string
  const enrolled: Array<{ id: string; name: string; token: string }> = []
  for (let k = 0; k < nodeCount; k++) {
    const id = `node_load_${run}_${k}`
    const name = `load-${run}-${k}`
    const node = await seed('POST', '/v1/nodes', wsKey, { node_id: id, name, kind: 'ws', role: 'broker', version: 'relay-broker/load-node' })
    enrolled.push({ id, name, token: node.token as string })
  }
  const senderTokens: string[] = []
  for (let s = 0; s < senders; s++) {
    const a = await seed('POST', '/v1/agents', wsKey, { name: `sender-${run}-${s}`, type: 'agent' })
    senderTokens.push(a.token as string)
  }

  // ---- 2. the nodes ---------------------------------------------------------------------
  const loadNodes = enrolled.map((n, k) => new LoadNode({
    urls, token: n.token, nodeId: n.id, name: n.name, startIndex: k % urls.length,
    agents: Array.from({ length: agentsPerNode }, (_, j) => `n${k}-a${j}`),
    ...opts.loadNode,
  }))
  const allAgents = loadNodes.flatMap((n) => n.agentNames)
  const A = allAgents.length

  const records: DmRecord[] = []
  const streamK = new Map<string, number>()
  const streams = new Map<string, number[]>()
  for (let i = 0; i < dms; i++) {
    const agent = allAgents[i % A] as string
    const sender = Math.floor(i / A) % senders
    const sk = `${sender}>${agent}`
    const k = streamK.get(sk) ?? 0
    streamK.set(sk, k + 1)
    records.push({ index: i, sender, agent, k, text: `dm#${i} s${sender} k${k} ${run}`, key: `load-${run}-${i}`, attempts: 0, typedAt: [] })
    let list = streams.get(sk)
    if (!list) streams.set(sk, (list = []))
    list.push(i)
  }

  // Typed events → DM records; the drain waits on these.
  let typedDistinct = 0
  let postedCount = 0
  let lastTypedAt = 0
  let wake: (() => void) | undefined
  const onTyped = (t: TypedMessage) => {
    const m = TEXT_RE.exec(t.text)
    const rec = m ? records[Number(m[1])] : undefined
    if (!rec || !t.text.endsWith(` ${run}`)) {
      error(`typed a message that is not this run's: ${t.agent} ${t.msgId} ${t.text.slice(0, 80)}`)
      return
    }
    rec.typedAt.push(t.at)
    if (rec.typedAt.length === 1) typedDistinct++
    lastTypedAt = Math.max(lastTypedAt, t.at)
    wake?.()
  }
  for (const n of loadNodes) n.on('typed', onTyped)

  const t0 = performance.now()
  const stopNodes = () => Promise.all(loadNodes.map((n) => n.stop()))
  try {
    await Promise.all(loadNodes.map((n) => n.start(opts.readyTimeoutMs ?? 20_000)))
  } catch (err) {
    await stopNodes()
    pool.destroy()
    throw err
  }
  await opts.onReady?.({ nodes: loadNodes, workspaceKey: wsKey })

  // ---- 3. posting -----------------------------------------------------------------------
  const faults = [...(opts.faults ?? [])].sort((a, b) => a.at - b.at).map((f) => ({ ...f, fired: false }))
  const faultLog: ClusterLoadResult['faults'] = []
  const faultRuns: Array<Promise<void>> = []
  const fireFaults = () => {
    for (const f of faults) {
      if (f.fired || postedCount < Math.ceil(f.at * dms)) continue
      f.fired = true
      const entry: ClusterLoadResult['faults'][number] = { label: f.label ?? `fault at ${f.at}`, atMs: Math.round(performance.now() - t0), posted: postedCount }
      faultLog.push(entry)
      const started = performance.now()
      faultRuns.push(
        Promise.resolve()
          .then(() => f.run())
          .then(
            () => { entry.ms = Math.round(performance.now() - started) },
            (err: unknown) => {
              entry.error = String(err)
              error(`fault "${entry.label}" failed: ${String(err)}`)
            },
          ),
      )
    }
  }

  let postRetries = 0
  let replayed = 0
  let firstPostAt = 0
  const gate = new Gate(opts.concurrency ?? 32)
  const deadlineMs = opts.postDeadlineMs ?? 60_000

  const postOne = async (rec: DmRecord): Promise<void> => {
    const started = performance.now()
    let backoff = 20
    for (let attempt = 0; ; attempt++) {
      const url = urls[(rec.index + attempt) % urls.length] as string
      rec.attempts++
      if (attempt > 0) postRetries++
      rec.firstSentAt ??= performance.now()
      if (!firstPostAt) firstPostAt = rec.firstSentAt
      let why: string
      try {
        const r = await httpJson(pool, url, 'POST', '/v1/dm', {
          token: senderTokens[rec.sender], body: { to: rec.agent, text: rec.text }, headers: { 'idempotency-key': rec.key }, timeoutMs: postTimeoutMs,
        })
        if (r.status === 200 || r.status === 201) {
          rec.postedAt = performance.now()
          rec.msgId = r.body?.data?.id
          if (r.body?.data?.replayed) replayed++
          postedCount++
          fireFaults()
          return
        }
        why = `${r.status} ${r.body?.error?.code ?? JSON.stringify(r.body).slice(0, 120)}`
        if (r.status < 500 && r.status !== 429 && r.status !== 408) {
          error(`dm#${rec.index} on ${url}: ${why} (not retried)`)
          return
        }
      } catch (err) {
        why = (err as Error).message || String(err)
      }
      if (performance.now() - started > deadlineMs) {
        error(`dm#${rec.index}: gave up after ${rec.attempts} attempts in ${deadlineMs} ms; last on ${url}: ${why}`)
        return
      }
      // Every url tried once in a row: back off a little before the next round.
      if ((attempt + 1) % urls.length === 0) {
        await new Promise((r) => setTimeout(r, backoff))
        backoff = Math.min(backoff * 2, 500)
      }
    }
  }

  fireFaults()
  await Promise.all([...streams.values()].map(async (indices) => {
    for (const i of indices) {
      await gate.take()
      try {
        await postOne(records[i] as DmRecord)
      } finally {
        gate.give()
      }
    }
  }))
  await Promise.all(faultRuns)
  for (const f of faults) if (!f.fired) error(`fault "${f.label ?? f.at}" never fired (${postedCount}/${dms} posted)`)

  // ---- 5. drain -------------------------------------------------------------------------
  const posted = records.filter((r) => r.postedAt !== undefined)
  const allTyped = () => posted.every((r) => r.typedAt.length > 0)
  if (!allTyped()) {
    const bound = opts.drainTimeoutMs ?? 60_000
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined
        resolve()
      }, bound)
      wake = () => {
        // Cheap check first: enough distinct DMs typed to possibly cover every posted one.
        if (typedDistinct < posted.length || !allTyped()) return
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake()
    })
  }
  const drainedAt = performance.now()
  // Let the last acks leave (per-turn coalescing) before the sockets close.
  await new Promise((r) => setImmediate(r))
  await stopNodes()
  pool.destroy()

  // ---- report ---------------------------------------------------------------------------
  const lostRecs = posted.filter((r) => r.typedAt.length === 0)
  const latencies = posted.filter((r) => r.typedAt.length > 0).map((r) => (r.typedAt[0] as number) - (r.firstSentAt as number)).sort((a, b) => a - b)
  const orderViolations: Record<string, number> = {}
  let orderViolationsTotal = 0
  for (const n of loadNodes) {
    for (const agent of n.agentNames) {
      const lastK = new Map<number, number>()
      let v = 0
      for (const t of n.typed(agent)) {
        const m = TEXT_RE.exec(t.text)
        if (!m) continue
        const s = Number(m[2])
        const k = Number(m[3])
        const prev = lastK.get(s)
        if (prev !== undefined && k <= prev) v++
        else lastK.set(s, k)
      }
      orderViolations[agent] = v
      orderViolationsTotal += v
    }
  }
  const stats = loadNodes.map((n) => ({ n, s: n.stats() }))
  for (const { n, s } of stats) for (const p of s.problems) error(`${n.name}: ${p}`)
  if (lostRecs.length > 0) error(`${lostRecs.length} posted DM(s) not typed within the drain bound`)
  const spanS = ((lastTypedAt || drainedAt) - (firstPostAt || t0)) / 1000
  return {
    posted: posted.length,
    typed: posted.length - lostRecs.length,
    lost: lostRecs.length,
    lostSample: lostRecs.slice(0, 20).map((r) => r.index),
    duplicates: records.reduce((n, r) => n + Math.max(0, r.typedAt.length - 1), 0),
    msgIdDuplicates: stats.reduce((n, x) => n + x.s.duplicates, 0),
    orderViolations,
    orderViolationsTotal,
    seqOutOfOrder: stats.reduce((n, x) => n + x.s.outOfOrder, 0),
    skipped: stats.reduce((n, x) => n + x.s.skipped, 0),
    typedUnposted: records.filter((r) => r.postedAt === undefined && r.typedAt.length > 0).length,
    messagesPerSecond: spanS > 0 ? Math.round((posted.length - lostRecs.length) / spanS) : 0,
    latencyMs: {
      p50: Math.round(percentile(latencies, 0.5) * 10) / 10,
      p99: Math.round(percentile(latencies, 0.99) * 10) / 10,
      max: Math.round((latencies[latencies.length - 1] ?? 0) * 10) / 10,
    },
    failovers: stats.flatMap(({ n, s }) => s.failovers.map((f) => ({
      node: n.name, from: f.from, to: f.to, ms: Math.round(f.ms), agentsMs: f.agentsMs === undefined ? undefined : Math.round(f.agentsMs), attempts: f.attempts,
    }))),
    reconnects: stats.reduce((n, x) => n + x.s.reconnects, 0),
    postRetries,
    replayed,
    stale: stats.reduce((n, x) => n + x.s.stale, 0),
    gapsHeld: stats.reduce((n, x) => n + x.s.gapsHeld, 0),
    faults: faultLog,
    errors,
    durationMs: Math.round(performance.now() - t0),
    nodes: loadNodes.map((n) => `${n.name}: ${n.summary()}`),
  }
}
