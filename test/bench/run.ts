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
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import * as pty from 'node-pty'
import WebSocket, { WebSocketServer } from 'ws'
import { Broker, type BrokerEvent } from '../../electron/broker'
import { EngineApi } from '../../electron/broker/engine-api'
import { startEngine } from '../../electron/engine'
import { defaultPeerConfig, peerRows, runPeer } from './peer'
import { benchEngine } from './engine'
import { benchUi } from './ui-bench'
import { benchClis } from './clis'
import { benchRelay } from './relay'
import { summarize, table } from './stats'

const COUNT = Number(process.env.BENCH_COUNT ?? 200)
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `relay-bench-${p}-`))

async function floorWsRoundTrip(n: number): Promise<number[]> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  await new Promise((r) => wss.once('listening', r))
  wss.on('connection', (s) => s.on('message', (d) => s.send(d)))
  const port = (wss.address() as { port: number }).port
  const ws = new WebSocket(`ws://127.0.0.1:${port}`)
  await new Promise((r) => ws.once('open', r))
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await new Promise<void>((r) => {
      ws.once('message', () => r())
      ws.send(JSON.stringify({ i, text: 'x'.repeat(100) }))
    })
    out.push(performance.now() - t0)
  }
  ws.close()
  wss.close()
  return out
}

async function floorPtyEcho(n: number): Promise<number[]> {
  const p = pty.spawn('cat', [], { cols: 200, rows: 30, cwd: '/tmp', env: process.env as Record<string, string> })
  let buf = ''
  let waiter: (() => void) | undefined
  let needle = ''
  p.onData((d) => {
    buf += d
    if (waiter && buf.includes(needle)) waiter()
  })
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    needle = `floor-${i}-end`
    buf = ''
    const t0 = performance.now()
    await new Promise<void>((r) => {
      waiter = r
      p.write(`${needle}\r`)
    })
    out.push(performance.now() - t0)
  }
  p.kill()
  return out
}

async function relayRun(n: number) {
  const engine = await startEngine({ port: 0, dataDir: tmp('engine') })
  const api = new EngineApi({ baseUrl: engine.url })
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
  const waiters = new Map<string, () => void>()
  broker.on((e: BrokerEvent) => {
    if (e.type !== 'delivery') return
    if (e.step.state === 'typed') typedAt.set(e.step.msgId, performance.now())
    if (e.step.state === 'acked') {
      ackedAt.set(e.step.msgId, performance.now())
      waiters.get(e.step.msgId)?.()
    }
  })
  await broker.start()
  while (broker.state.state !== 'connected') await new Promise((r) => setTimeout(r, 5))
  await broker.spawn({ name: 'cat-agent', command: 'cat', cwd: '/tmp' })
  const sender = await api.ensureAgent(ws.api_key, 'bench-sender')

  const sendToTyped: number[] = []
  const sendToAck: number[] = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    let id = ''
    const acked = new Promise<void>((r) => {
      // the deliver may race the POST's response: resolve on whichever learns the id first
      const check = setInterval(() => {
        if (id && ackedAt.has(id)) {
          clearInterval(check)
          r()
        }
      }, 1)
    })
    const sent = await api.sendDm(sender.token, { to: 'cat-agent', text: `bench message ${i}` })
    id = sent.message.id
    await acked
    sendToTyped.push((typedAt.get(id) as number) - start)
    sendToAck.push((ackedAt.get(id) as number) - start)
  }
  const totalMs = performance.now() - t0
  await broker.stop()
  await engine.close()
  return { sendToTyped, sendToAck, totalMs }
}

const ONLY = process.env.BENCH_ONLY ?? ''
const resultsDir = resolve(__dirname, '../../bench-results')

async function main() {
  if (!ONLY || ONLY === 'skeleton') await skeleton()
  if (!ONLY || ONLY === 'peer') await peer()
  if (!ONLY || ONLY === 'engine') await engine()
  if (!ONLY || ONLY === 'ui') await ui()
  if (!ONLY || ONLY === 'clis') await clis()
  if (!ONLY || ONLY === 'relay') await relay()
}

async function relay() {
  const r = await benchRelay()
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'relay.json'), JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2))
  const row = (measure: string, s: { p50: number; p90: number; p99: number }, goal: string) => ({ measure, 'median ms': Math.round(s.p50), 'p90 ms': Math.round(s.p90), goal })
  const rows = (label: string, x: typeof r.asIs) => [
    row(`${label}node -e 0 (the floor)`, x.nodeFloor, ''),
    row(`${label}\`relay help\` through the PATH shim`, x.relayHelp, `≤ 150: ${x.relayHelp.p50 <= 150 ? 'MET' : 'MISSED'}`),
    row(`${label}MCP server: spawn → initialize answered`, x.mcpInitialize, `≤ 300: ${x.mcpInitialize.p50 <= 300 ? 'MET' : 'MISSED'}`),
  ]
  const all = [...rows('', r.asIs), ...(r.withoutExtraCaCerts ? rows('no NODE_EXTRA_CA_CERTS: ', r.withoutExtraCaCerts) : [])]
  process.stdout.write(
    `\nthe relay program (7 runs each)\n\n${table(all)}\nwritten to bench-results/relay.json\n`,
  )
}

async function clis() {
  const r = await benchClis((m) => process.stderr.write(`[clis] ${m}\n`))
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'clis.json'), JSON.stringify({ at: new Date().toISOString(), results: r }, null, 2))
  const f = (s?: { p50: number; p99: number }) => (s ? `${Math.round(s.p50)} / ${Math.round(s.p99)}` : '—')
  const rows = r.map((x) => ({
    cli: x.cli,
    'idle send→model p50/p99 ms': f(x.idle),
    'busy (2 s turn) p50/p99 ms': f(x.busy),
    [`burst of ${x.burst?.n ?? 20}: once, in order`]: x.burst ? (x.burst.reachedOnceInOrder ? 'yes' : 'NO') : '—',
    'burst last reached ms': x.burst ? Math.round(x.burst.totalMs) : '—',
    'upstream broker idle p50/p99 ms': f(x.upstreamIdle),
    note: x.error ?? '',
  }))
  process.stdout.write(`\nreal agent CLIs through the app, offline against the scripted model (send → the model's request)\n\n${table(rows)}\n`)
  const claude = r.find((x) => x.cli === 'claude')
  if (claude?.idle && claude.upstreamIdle) {
    const ratio = claude.idle.p50 / claude.upstreamIdle.p50
    process.stdout.write(`claude idle p50, ours / upstream broker: ${ratio.toFixed(2)} (goal ≤ 0.75: ${ratio <= 0.75 ? 'MET' : 'MISSED'})\n`)
  }
  process.stdout.write('written to bench-results/clis.json\n')
}

async function ui() {
  const r = await benchUi()
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'ui.json'), JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2))
  process.stdout.write(`\nUI under load (npm run serve + Chromium; see test/bench/ui-bench.ts for the scenario)\n\n`)
  process.stdout.write(`${table(Object.entries(r).map(([measure, value]) => ({ measure, value })))}\n`)
  process.stdout.write('written to bench-results/ui.json\n')
}

async function engine() {
  const r = await benchEngine()
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'engine.json'), JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2))
  process.stdout.write(`\nengine alone (REST sends → one acking node socket)\n\n`)
  process.stdout.write(
    `${table([
      { measure: 'messages/s through one engine into 10 agents', value: r.messagesPerSecondTenAgents },
      { measure: 'drain 10,000 queued messages after a restart (ms)', value: r.drainTenThousandMs },
    ])}\n`,
  )
  process.stdout.write('written to bench-results/engine.json\n')
}

async function peer() {
  const cfg = defaultPeerConfig()
  const log = (m: string) => process.stderr.write(`[peer] ${m}\n`)
  const rep = await runPeer(cfg, log)
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'peer.json'), JSON.stringify(rep, null, 2))
  process.stdout.write(`\npeer benchmark: our engine + cat agents, our broker vs the real agent-relay broker 9.1.6\n`)
  process.stdout.write(`(visible = text in the terminal stream: ours agent.output, batched ≤ 16 ms; real /ws worker_stream)\n\n`)
  process.stdout.write(`${table(peerRows(rep))}\n\n`)
  if ('skipped' in rep.real) {
    process.stdout.write(`real broker half skipped: ${rep.real.skipped}\n`)
    if (rep.real.failed) process.exitCode = 1
  }
  if (rep.ours.single.phases) {
    const rows = Object.entries(rep.ours.single.phases).map(([phase, s]) => ({ 'ours, where the time goes (single)': phase, ...s }))
    process.stdout.write(`${table(rows)}\n\n`)
  }
  if (rep.goals) {
    const g = Object.entries(rep.goals).map(([k, v]) => `${k} ${v.ratio ?? '—'} (${v.goal}) ${v.met ? 'MET' : 'MISSED'}`)
    process.stdout.write(`goals: ${g.join('  ·  ')}\n`)
  }
  process.stdout.write(`written to bench-results/peer.json\n`)
}

async function skeleton() {
  const floorWs = await floorWsRoundTrip(COUNT)
  const floorPty = await floorPtyEcho(COUNT)
  const relay = await relayRun(COUNT)
  const wsS = summarize(floorWs)
  const ptyS = summarize(floorPty)
  const floorP50 = Math.round((wsS.p50 + ptyS.p50) * 100) / 100
  const typed = summarize(relay.sendToTyped)
  const ack = summarize(relay.sendToAck)
  const rate = Math.round((COUNT / relay.totalMs) * 1000 * 10) / 10
  const rows = [
    { measure: 'floor: loopback WS round trip', ...wsS, 'x floor': '' },
    { measure: 'floor: PTY write + echo (cat)', ...ptyS, 'x floor': '' },
    { measure: 'relay: send → typed in PTY', ...typed, 'x floor': (typed.p50 / floorP50).toFixed(1) },
    { measure: 'relay: send → ack (engine)', ...ack, 'x floor': (ack.p50 / floorP50).toFixed(1) },
  ]
  const result = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    messages: COUNT,
    unit: 'ms',
    floor: { wsRoundTrip: wsS, ptyEcho: ptyS, p50Sum: floorP50 },
    relay: { sendToTyped: typed, sendToAck: ack, messagesPerSecond: rate, totalMs: Math.round(relay.totalMs) },
  }
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, 'skeleton.json'), JSON.stringify(result, null, 2))
  process.stdout.write(`\n${COUNT} DMs, one at a time, into a cat agent (ms)\n\n${table(rows)}\n\n`)
  process.stdout.write(`sequential throughput: ${rate} messages/s  ·  written to bench-results/skeleton.json\n`)
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
