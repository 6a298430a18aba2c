/**
 * Engine figures for `npm run bench` (the bench owner calls `benchEngine()`):
 *
 * - messagesPerSecondTenAgents: DMs sent over REST (32 in flight) round-robin to 10
 *   agents hosted on one ws test node that acks each delivery at once; messages/s from
 *   the first send until the engine has recorded the ack of the last one.
 * - drainTenThousandMs: 10,000 DMs queued (10 agents × 1,000, the default in-flight
 *   cap) while no node is connected; the engine is closed and restarted on the same
 *   data dir; time from the node being told to connect until the engine has recorded
 *   the ack of all 10,000.
 * - single*: one DM at a time (after a warm-up), the node acking each at once:
 *   POST → the deliver frame on the node socket, POST → the ack recorded by the engine,
 *   POST → its 201; next to the floor measured in the same run, a loopback WebSocket
 *   round trip (client and server in one thread, as the engine and its node are here),
 *   and the HTTP part of a send alone (GET /health on the same engine and client).
 *
 * Where things run: the engine on this thread, like the app's engine thread (the app
 * runs it in a worker of its own). For the two load figures the senders and the node
 * run in a worker thread, as they are other processes (agents' MCP servers, the broker)
 * in the app, so the figure is the engine's and not the load generator's. "Recorded"
 * means the engine's own `acked` event (after the ack is committed), never a client's
 * view, and nothing is polled inside a timed window: every wait is on an event.
 *
 * Self-contained: real engine on 127.0.0.1 port 0, temp data dirs, real sockets.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import WebSocket from 'ws'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { floorWsRoundTrip } from './floors'

export interface EngineBenchResult {
  messagesPerSecondTenAgents: number
  drainTenThousandMs: number
  /** Single DM, POST → deliver frame on the node socket (ms, p50 / p90). */
  singleSendToDeliverP50: number
  singleSendToDeliverP90: number
  /** Single DM, POST → the engine recorded the node's ack (ms, p50). */
  singleSendToAckRecordedP50: number
  /** Single DM, POST → its 201 response (ms, p50). */
  singleSendToResponseP50: number
  /** The same client and engine, GET /health round trip p50 (ms): the HTTP part of a send, without a store. */
  httpRoundTripP50: number
  /** The floor in the same run: loopback WS round trip p50 (ms). */
  floorWsRoundTripP50: number
  /** singleSendToDeliverP50 / floorWsRoundTripP50. */
  singleDeliverXFloor: number
}

const AGENTS = Array.from({ length: 10 }, (_, i) => `bench-${i}`)
const WAIT_MS = 120_000

// ---------------------------------------------------------------- shared helpers (both threads)

/** One keep-alive pool per thread: node:http, lighter than fetch so the client is not what is measured. */
const pool = new Agent({ keepAlive: true, maxSockets: 64 })

function call(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = request(url + path, {
      method,
      agent: pool,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
      },
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          const json = JSON.parse(Buffer.concat(chunks).toString()) as { ok: boolean; data?: unknown; error?: { code: string; message: string } }
          if (!json.ok) reject(new Error(`${method} ${path} → ${res.statusCode} ${json.error?.code}: ${json.error?.message}`))
          else resolve(json.data)
        } catch (err) {
          reject(err)
        }
      })
      res.on('error', reject)
    })
    req.on('error', (err) => reject(new Error(`${method} ${path}: ${String(err)}`)))
    req.end(payload)
  })
}

/** A test node hosting the bench agents: acks every deliver at once (cumulative). */
class AckingNode {
  /** Called with every durable deliver frame, before it is acked. */
  onDeliver: (f: { seq: number; agent: string; msg_id: string }) => void = () => undefined
  private constructor(private readonly ws: WebSocket) {}

  /** Resolves once node.register and every agent.register have been answered. */
  static async connect(url: string, token: string, nodeId: string, name: string): Promise<AckingNode> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/node/ws', { headers: { authorization: `Bearer ${token}` } })
    const node = new AckingNode(ws)
    const pending = new Set(AGENTS.map((a) => `reg-${a}`))
    let registered!: () => void
    let failed!: (err: Error) => void
    const ready = new Promise<void>((resolve, reject) => {
      registered = resolve
      failed = reject
    })
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string; id?: string; seq?: number; agent?: string; msg_id?: string; ok?: boolean }
      if (f.type === 'deliver' && f.seq && f.seq > 0) {
        node.onDeliver(f as { seq: number; agent: string; msg_id: string })
        ws.send(JSON.stringify({ type: 'delivery.ack', v: 1, agent: f.agent, up_to_seq: f.seq }))
      } else if (f.type === 'reply' && f.id && pending.delete(f.id) && pending.size === 0) registered()
      else if (f.type === 'error') failed(new Error(`engine error frame: ${raw.toString()}`))
    })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    ws.send(JSON.stringify({
      type: 'node.register', v: 1, name, node_id: nodeId, max_agents: 0, tags: [], version: 'bench/1', resume_cursor: null,
      capabilities: [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }],
    }))
    ws.send(JSON.stringify({ type: 'node.heartbeat', v: 1, active_agents: AGENTS.length, handlers_live: true, load: 0 }))
    for (const a of AGENTS) ws.send(JSON.stringify({ type: 'agent.register', v: 1, id: `reg-${a}`, name: a }))
    await ready
    return node
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

async function sendAll(url: string, token: string, total: number, inFlight = 32): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) {
      const i = next++
      await call(url, 'POST', '/v1/dm', token, { to: AGENTS[i % AGENTS.length], text: `bench message ${i}` })
    }
  }))
}

// ---------------------------------------------------------------- the load thread

type LoadCommand =
  | { cmd: 'node'; url: string; token: string; nodeId: string; name: string }
  | { cmd: 'send'; url: string; token: string; total: number }
  | { cmd: 'close' }
type LoadReply = { ok: true } | { ok: false; error: string }

const LOAD_FLAG = 'relayEngineBenchLoad'

function serveLoad(): void {
  const port = parentPort
  if (!port) return
  let node: AckingNode | undefined
  port.on('message', (m: LoadCommand) => {
    const run = async (): Promise<void> => {
      if (m.cmd === 'node') node = await AckingNode.connect(m.url, m.token, m.nodeId, m.name)
      else if (m.cmd === 'send') await sendAll(m.url, m.token, m.total)
      else if (m.cmd === 'close') {
        await node?.close()
        node = undefined
        pool.destroy()
      }
    }
    run().then(
      () => port.postMessage({ ok: true } satisfies LoadReply),
      (err: unknown) => port.postMessage({ ok: false, error: String((err as Error)?.stack ?? err) } satisfies LoadReply),
    )
  })
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[LOAD_FLAG]) serveLoad()

/** The senders and the node, in a worker thread running this very module (through tsx). */
class LoadThread {
  private readonly worker: Worker
  private queue: Promise<unknown> = Promise.resolve()

  constructor() {
    const tsx = require.resolve('tsx/cjs/api')
    this.worker = new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(__filename)})`, {
      eval: true,
      workerData: { [LOAD_FLAG]: true },
    })
  }

  /** Runs one command in the load thread; resolves when it is done there. */
  run(command: LoadCommand): Promise<void> {
    const next = this.queue.then(
      () =>
        new Promise<void>((resolve, reject) => {
          const onError = (err: Error) => reject(err)
          this.worker.once('error', onError)
          this.worker.once('message', (r: LoadReply) => {
            this.worker.off('error', onError)
            if (r.ok) resolve()
            else reject(new Error(`load thread: ${r.error}`))
          })
          this.worker.postMessage(command)
        }),
    )
    this.queue = next.catch(() => undefined)
    return next
  }

  async stop(): Promise<void> {
    await this.run({ cmd: 'close' }).catch(() => undefined)
    await this.worker.terminate()
  }
}

// ---------------------------------------------------------------- the engine thread

interface World { key: string; senderToken: string; nodeToken: string; nodeId: string }

async function seed(url: string): Promise<World> {
  const ws = await call(url, 'POST', '/v1/workspaces', undefined, { name: 'bench' })
  const key = ws.api_key as string
  const node = await call(url, 'POST', '/v1/nodes', key, { node_id: 'node_bench', name: 'bench-node', kind: 'ws', role: 'broker', version: 'bench/1' })
  const sender = await call(url, 'POST', '/v1/agents', key, { name: 'bench-sender' })
  for (const a of AGENTS) await call(url, 'POST', '/v1/agents', key, { name: a })
  return { key, senderToken: sender.token, nodeToken: node.token, nodeId: node.id }
}

/** Resolves when the engine has recorded acks covering `total` messages (its `acked` events). */
function engineRecorded(engine: RunningEngine, total: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let n = 0
    const timer = setTimeout(() => {
      engine.events.off('acked', onAcked)
      reject(new Error(`engine recorded ${n}/${total} acks within ${WAIT_MS} ms`))
    }, WAIT_MS)
    const onAcked = (e: { messageIds: string[] }) => {
      n += e.messageIds.length
      if (n < total) return
      clearTimeout(timer)
      engine.events.off('acked', onAcked)
      resolve()
    }
    engine.events.on('acked', onAcked)
  })
}

async function throughput(load: LoadThread, total: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-engine-'))
  const engine = await startEngine({ port: 0, dataDir: dir })
  try {
    const w = await seed(engine.url)
    await load.run({ cmd: 'node', url: engine.url, token: w.nodeToken, nodeId: w.nodeId, name: 'bench-node' })
    const recorded = engineRecorded(engine, total)
    const t0 = performance.now()
    await Promise.all([load.run({ cmd: 'send', url: engine.url, token: w.senderToken, total }), recorded])
    const seconds = (performance.now() - t0) / 1000
    await load.run({ cmd: 'close' })
    return total / seconds
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function drainAfterRestart(load: LoadThread, total: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-drain-'))
  let engine = await startEngine({ port: 0, dataDir: dir })
  try {
    const w = await seed(engine.url)
    await load.run({ cmd: 'send', url: engine.url, token: w.senderToken, total })
    await load.run({ cmd: 'close' })
    await engine.close()
    engine = await startEngine({ port: 0, dataDir: dir })
    const recorded = engineRecorded(engine, total)
    const t0 = performance.now()
    await Promise.all([load.run({ cmd: 'node', url: engine.url, token: w.nodeToken, nodeId: w.nodeId, name: 'bench-node' }), recorded])
    const ms = performance.now() - t0
    await load.run({ cmd: 'close' })
    return ms
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const p = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))] as number
const ms2 = (x: number) => Math.round(x * 100) / 100


/** One DM at a time; every wait is on an event (the deliver frame, the engine's ack record, the 201). */
async function single(n: number, warmup: number) {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-single-'))
  const engine = await startEngine({ port: 0, dataDir: dir })
  const toDeliver: number[] = []
  const toAck: number[] = []
  const toResponse: number[] = []
  const http: number[] = []
  try {
    const w = await seed(engine.url)
    for (let i = 0; i < warmup + n; i++) {
      const t0 = performance.now()
      await call(engine.url, 'GET', '/health', undefined)
      if (i >= warmup) http.push(performance.now() - t0)
    }
    const node = await AckingNode.connect(engine.url, w.nodeToken, w.nodeId, 'bench-node')
    let delivered: ((at: number) => void) | undefined
    let acked: ((at: number) => void) | undefined
    node.onDeliver = () => delivered?.(performance.now())
    engine.events.on('acked', () => acked?.(performance.now()))
    for (let i = 0; i < warmup + n; i++) {
      const deliverAt = new Promise<number>((r) => (delivered = r))
      const ackAt = new Promise<number>((r) => (acked = r))
      const t0 = performance.now()
      const responseAt = call(engine.url, 'POST', '/v1/dm', w.senderToken, { to: AGENTS[0], text: `single ${i}` }).then(() => performance.now())
      const [d, a, r] = await Promise.all([deliverAt, ackAt, responseAt])
      if (i < warmup) continue
      toDeliver.push(d - t0)
      toAck.push(a - t0)
      toResponse.push(r - t0)
    }
    await node.close()
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
  const sort = (xs: number[]) => [...xs].sort((a, b) => a - b)
  return { toDeliver: sort(toDeliver), toAck: sort(toAck), toResponse: sort(toResponse), http: sort(http) }
}

export async function benchEngine(): Promise<EngineBenchResult> {
  const count = Number(process.env.BENCH_ENGINE_SINGLE ?? 300)
  const floor = [...(await floorWsRoundTrip(count + 50)).slice(50)].sort((a, b) => a - b)
  const one = await single(count, 50)
  const load = new LoadThread()
  try {
    const messagesPerSecondTenAgents = await throughput(load, Number(process.env.BENCH_ENGINE_MESSAGES ?? 5000))
    const drainTenThousandMs = await drainAfterRestart(load, 10_000)
    const floorP50 = p(floor, 50)
    return {
      messagesPerSecondTenAgents: Math.round(messagesPerSecondTenAgents),
      drainTenThousandMs: Math.round(drainTenThousandMs),
      singleSendToDeliverP50: ms2(p(one.toDeliver, 50)),
      singleSendToDeliverP90: ms2(p(one.toDeliver, 90)),
      singleSendToAckRecordedP50: ms2(p(one.toAck, 50)),
      singleSendToResponseP50: ms2(p(one.toResponse, 50)),
      httpRoundTripP50: ms2(p(one.http, 50)),
      floorWsRoundTripP50: ms2(floorP50),
      singleDeliverXFloor: Math.round((p(one.toDeliver, 50) / floorP50) * 10) / 10,
    }
  } finally {
    await load.stop()
    pool.destroy()
  }
}
