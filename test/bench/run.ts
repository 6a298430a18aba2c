/**
 * `npm run bench`:
 * 1. skeleton — send→typed and send→ack latency through our real engine and broker into
 *    a `cat` agent, one message at a time, next to the floor on this machine (a bare
 *    loopback WebSocket round trip plus a PTY write and its echo) → bench-results/skeleton.json;
 * 2. peer — the same scenarios on our engine through our broker and through the real
 *    agent-relay broker, side by side (./peer.ts) → bench-results/peer.json.
 * 3. clis — the real agent CLIs through the app (./clis.ts) → bench-results/clis.json.
 * 4. relay — start-up of the `relay` command and the MCP server (./relay.ts) → bench-results/relay.json.
 * `BENCH_ONLY=skeleton|peer|engine|ui|clis|relay` runs one part; counts: BENCH_COUNT, BENCH_PEER_* (see peer.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { Broker, type BrokerEvent } from '../../electron/broker'
import { EngineApi } from '../../electron/broker/engine-api'
import { loopbackFetch } from '../../electron/host/loopback-fetch'
import { startEngine } from '../../electron/engine'
import { defaultPeerConfig, peerRows, runPeer } from './peer'
import { benchEngine } from './engine'
import { benchUi } from './ui-bench'
import { benchClis } from './clis'
import { benchRelay, type RelayRun } from './relay'
import { benchCluster, clusterAfter, clusterConfig, clusterRows, clusterSkipReason } from './cluster'
import { floorPtyEcho, floorWsRoundTrip } from './floors'
import { aggregateTables, summarize, table, type Row } from './stats'

const COUNT = Number(process.env.BENCH_COUNT ?? 200)
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `relay-bench-${p}-`))

async function relayRun(n: number) {
  const engine = await startEngine({ port: 0, dataDir: tmp('engine') })
  // Sends go as the app sends them (the host's kept-alive node:http, not undici's fetch).
  const api = new EngineApi({ baseUrl: engine.url, fetchImpl: loopbackFetch })
  const ws = await api.createWorkspace('bench')
  const stateDir = tmp('node')
  const broker = new Broker({
    baseUrl: engine.url,
    workspaceKey: ws.api_key,
    workspaceId: ws.workspace_id,
    stateDir,
    nodeName: 'bench-node',
    cwd: () => stateDir,
    env: { ...process.env, RELAY_NODE_TOKEN: '' },
  })
  const typedAt = new Map<string, number>()
  const ackedAt = new Map<string, number>()
  // Learns of an ack by event, never by polling inside the timed window; the deliver may beat
  // the POST's response, so an ack that arrives before its id is known is kept for the lookup.
  const ackWaiters = new Map<string, () => void>()
  const onAcked = (msgId: string) => {
    ackedAt.set(msgId, performance.now())
    ackWaiters.get(msgId)?.()
  }
  const connected = new Promise<void>((resolve) =>
    broker.on((e: BrokerEvent) => {
      if (e.type === 'node.state' && e.state === 'connected') resolve()
    }),
  )
  broker.on((e: BrokerEvent) => {
    if (e.type !== 'delivery') return
    if (e.step.state === 'typed') typedAt.set(e.step.msgId, performance.now())
  })
  // The ack counts when the engine has recorded it, not when the broker meant to send it.
  engine.events.on('acked', ({ messageIds }) => {
    for (const id of messageIds) onAcked(id)
  })
  await broker.start()
  await connected
  await broker.spawn({ name: 'cat-agent', command: 'cat', cwd: '/tmp' })
  const sender = await api.ensureAgent(ws.api_key, 'bench-sender')

  const sendToTyped: number[] = []
  const sendToAck: number[] = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    const sent = await api.sendDm(sender.token, { to: 'cat-agent', text: `bench message ${i}` })
    const id = sent.message.id
    if (!ackedAt.has(id)) await new Promise<void>((r) => ackWaiters.set(id, r))
    ackWaiters.delete(id)
    sendToTyped.push((typedAt.get(id) as number) - start)
    sendToAck.push((ackedAt.get(id) as number) - start)
  }
  const totalMs = performance.now() - t0
  await broker.stop()
  await engine.close()
  return { sendToTyped, sendToAck, totalMs }
}

const ONLY = process.env.BENCH_ONLY ?? ''
/** Every figure is the median of this many runs, printed with its range (min–max). */
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))
const resultsDir = resolve(__dirname, '../../bench-results')

/** The machine a figure was taken on: cores, load before the run, and what slows node's start. */
function machine() {
  return {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    nodeExtraCaCerts: Boolean(process.env.NODE_EXTRA_CA_CERTS),
  }
}

/**
 * Runs one part RUNS times and prints one table: each number the median of the runs with
 * [min–max]. Every run's raw result goes to bench-results/<name>.json beside the table.
 */
async function part<R>(name: string, title: string, once: (run: number) => Promise<R>, rows: (r: R) => Row[], after?: (runs: R[]) => string) {
  const at = new Date().toISOString()
  const before = machine()
  const results: R[] = []
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write(`[${name}] run ${i + 1} of ${RUNS}\n`)
    results.push(await once(i))
  }
  const summary = aggregateTables(results.map(rows))
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, `${name}.json`), JSON.stringify({ at, machine: before, runs: RUNS, summary, results }, null, 2))
  process.stdout.write(`\n${title}\nmedian [min–max] of ${RUNS} runs · ${before.cpus} cores, load ${before.loadAverage1m}, node ${before.node}\n\n`)
  process.stdout.write(`${table(summary)}\n`)
  const tail = after?.(results)
  if (tail) process.stdout.write(tail)
  process.stdout.write(`written to bench-results/${name}.json\n`)
}

async function main() {
  if (!ONLY || ONLY === 'skeleton') await skeleton()
  if (!ONLY || ONLY === 'peer') await peer()
  if (!ONLY || ONLY === 'engine') await engine()
  if (!ONLY || ONLY === 'ui') await ui()
  if (!ONLY || ONLY === 'clis') await clis()
  if (!ONLY || ONLY === 'relay') await relay()
  if (!ONLY || ONLY === 'cluster') await cluster()
}

const verdict = (met: boolean) => (met ? 'MET' : 'MISSED')

async function cluster() {
  const skip = clusterSkipReason()
  if (skip) {
    process.stdout.write(`\ncluster: skipped — PostgreSQL is not available: ${skip}\n`)
    return
  }
  const c = clusterConfig().load
  await part(
    'cluster',
    `engine cluster on PostgreSQL: cross-instance push (2 instances, sweeps off), then load+fault ` +
      `(${c.instances} instances, ${c.nodes} nodes × ${c.agentsPerNode} agents, ${c.dms} DMs, instance ${c.killInstance} SIGKILLed at ${c.killAt * 100} % and restarted at ${c.restartAt * 100} %)`,
    () => benchCluster((m) => process.stderr.write(`[cluster] ${m}\n`)),
    clusterRows,
    clusterAfter,
  )
}

async function relay() {
  const row = (measure: string, s: { p50: number; p90: number }, goal?: number) => ({
    measure,
    'median ms': Math.round(s.p50),
    'p90 ms': Math.round(s.p90),
    goal: goal === undefined ? '' : `≤ ${goal}: ${verdict(s.p50 <= goal)}`,
  })
  const rows = (label: string, x: RelayRun) => [
    row(`${label}node -e 0 (the floor)`, x.nodeFloor),
    row(`${label}\`relay help\` through the PATH shim`, x.relayHelp, 150),
    row(`${label}MCP server: spawn → initialize answered`, x.mcpInitialize, 300),
  ]
  await part('relay', 'the relay program (each run: 7 starts of each)', () => benchRelay(), (r) => [
    ...rows('', r.asIs),
    ...(r.withoutExtraCaCerts ? rows('no NODE_EXTRA_CA_CERTS: ', r.withoutExtraCaCerts) : []),
  ])
}

async function clis() {
  const r0 = (s?: { p50: number; p99: number }, k: 'p50' | 'p99' = 'p50') => (s ? Math.round(s[k]) : '—')
  await part(
    'clis',
    "real agent CLIs through the app, offline against the scripted model (send → the model's request)",
    () => benchClis((m) => process.stderr.write(`[clis] ${m}\n`)),
    (r) => [
      ...r.map((x) => ({
        cli: x.cli,
        'idle p50 ms': r0(x.idle),
        'idle p99 ms': r0(x.idle, 'p99'),
        'busy (2 s turn) p50 ms': r0(x.busy),
        [`burst of ${x.burst?.n ?? 20}: once, in order`]: x.burst ? (x.burst.reachedOnceInOrder ? 'yes' : 'NO') : '—',
        'burst last reached ms': x.burst ? Math.round(x.burst.totalMs) : '—',
        'upstream broker idle p50 ms': r0(x.upstreamIdle),
        note: x.error ?? '',
      })),
      ...r
        .filter((x) => x.cli === 'claude' && x.idle && x.upstreamIdle)
        .map((x) => {
          const ratio = x.idle!.p50 / x.upstreamIdle!.p50
          return { cli: 'claude idle p50, ours / upstream (goal ≤ 0.75)', 'idle p50 ms': ratio.toFixed(2), 'idle p99 ms': '', 'busy (2 s turn) p50 ms': verdict(ratio <= 0.75) }
        }),
    ],
  )
}

async function ui() {
  await part(
    'ui',
    'UI under load (npm run serve + Chromium; see test/bench/ui-bench.ts for the scenarios)',
    () => benchUi(),
    (r) => Object.entries(r).map(([measure, value]) => ({ measure, value: typeof value === 'number' || typeof value === 'string' ? value : JSON.stringify(value) })),
  )
}

async function engine() {
  await part(
    'engine',
    'engine alone (REST sends → a node socket that acks)',
    () => benchEngine(),
    (r) =>
      Object.entries(r)
        .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
        .map(([measure, value]) => ({ measure, value: value as number | string })),
  )
}

async function peer() {
  const cfg = defaultPeerConfig()
  const log = (m: string) => process.stderr.write(`[peer] ${m}\n`)
  await part(
    'peer',
    'peer benchmark: our engine + cat agents, our broker vs the real agent-relay broker 9.1.6\n' +
      '(visible = text in the terminal stream: ours agent.output, batched ≤ 16 ms; real /ws worker_stream)',
    () => runPeer(cfg, log),
    (rep) => [
      ...peerRows(rep),
      ...Object.entries(rep.ours.single.phases ?? {}).map(([phase, s]) => ({ measure: `  ours, where the time goes (single): ${phase} p50 (ms)`, ours: s.p50, real: '', 'ours/real': '', goal: '' })),
      ...Object.entries(rep.goals ?? {}).map(([k, v]) => ({ measure: `goal ${k} (${v.goal})`, ours: v.ratio ?? '—', real: '', 'ours/real': '', goal: verdict(v.met) })),
    ],
    (reps) => {
      const skipped = reps.map((r) => ('skipped' in r.real ? r.real : undefined)).find(Boolean)
      if (!skipped) return ''
      if (skipped.failed) process.exitCode = 1
      return `real broker half skipped: ${skipped.skipped}\n`
    },
  )
}

async function skeleton() {
  await part(
    'skeleton',
    `${COUNT} DMs, one at a time, into a cat agent (ms), next to this machine's floor`,
    async () => {
      const wsS = summarize(await floorWsRoundTrip(COUNT))
      const ptyS = summarize(await floorPtyEcho(COUNT))
      const relay = await relayRun(COUNT)
      const floorP50 = wsS.p50 + ptyS.p50
      const typed = summarize(relay.sendToTyped)
      const ack = summarize(relay.sendToAck)
      return { floor: { wsRoundTrip: wsS, ptyEcho: ptyS, p50Sum: floorP50 }, typed, ack, floorP50, messagesPerSecond: (COUNT / relay.totalMs) * 1000 }
    },
    (r) => [
      { measure: 'floor: loopback WS round trip', ...r.floor.wsRoundTrip, 'x floor': '' },
      { measure: 'floor: PTY write + echo (cat)', ...r.floor.ptyEcho, 'x floor': '' },
      { measure: 'relay: send → typed in PTY', ...r.typed, 'x floor': (r.typed.p50 / r.floorP50).toFixed(1) },
      { measure: 'relay: send → ack recorded by the engine', ...r.ack, 'x floor': (r.ack.p50 / r.floorP50).toFixed(1) },
      { measure: 'sequential messages/s', n: COUNT, p50: Math.round(r.messagesPerSecond), p90: '', p99: '', mean: '', 'x floor': '' },
    ],
  )
}

// Ctrl-C / SIGTERM still run the exit hooks that SIGKILL a real broker left running.
process.once('SIGINT', () => process.exit(130))
process.once('SIGTERM', () => process.exit(143))

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack}\n`)
    process.exit(1)
  },
)
