/**
 * Engine figures for `npm run bench` (the bench owner calls `benchEngine()`):
 *
 * - messagesPerSecondTenAgents: DMs sent over REST (32 in flight) round-robin to 10
 *   agents hosted on one ws test node that acks each delivery at once; messages/s from
 *   the first send until the engine has recorded the ack of the last one.
 * - drainTenThousandMs: 10,000 DMs queued (10 agents × 1,000, the default in-flight
 *   cap) while no node is connected; the engine is closed and restarted on the same
 *   data dir; time from the node's socket opening until the engine has recorded the ack
 *   of all 10,000.
 *
 * Self-contained: real engine on 127.0.0.1 port 0, temp data dirs, a real ws client.
 * Run alone: `npx tsx test/engine/bench-engine.ts` (prints the figures as JSON).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'

export interface EngineBenchResult {
  messagesPerSecondTenAgents: number
  drainTenThousandMs: number
}

const AGENTS = Array.from({ length: 10 }, (_, i) => `bench-${i}`)

async function call(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<any> {
  const res = await fetch(url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  }).catch((err: unknown) => {
    throw new Error(`${method} ${path}: ${String(err)} (${String((err as { cause?: unknown }).cause)})`)
  })
  const json = (await res.json()) as { ok: boolean; data?: unknown; error?: { code: string; message: string } }
  if (!json.ok) throw new Error(`${method} ${path} → ${res.status} ${json.error?.code}: ${json.error?.message}`)
  return json.data
}

/** A test node hosting the bench agents: acks every deliver immediately (cumulative). */
class AckingNode {
  acked = 0
  private waiters: Array<() => void> = []
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string; id?: string; seq?: number; agent?: string }
      if (f.type === 'deliver' && f.seq && f.seq > 0) {
        ws.send(JSON.stringify({ type: 'delivery.ack', v: 1, agent: f.agent, up_to_seq: f.seq }))
        this.acked++
      }
      for (const w of this.waiters) w()
    })
  }

  static async connect(url: string, token: string, nodeId: string, name: string): Promise<AckingNode> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/node/ws', { headers: { authorization: `Bearer ${token}` } })
    const node = new AckingNode(ws)
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
    return node
  }

  close(): void {
    this.ws.close()
  }
}

/** Polls the engine's own record (sum of the agents' ack cursors) until it reaches `total`. */
async function engineAcked(url: string, key: string, total: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const agents = (await call(url, 'GET', '/v1/agents', key)) as Array<{ name: string; delivery_ack_seq: number }>
    const sum = agents.filter((a) => AGENTS.includes(a.name)).reduce((n, a) => n + a.delivery_ack_seq, 0)
    if (sum >= total) return
    if (Date.now() > deadline) throw new Error(`engine recorded ${sum}/${total} acks within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 5))
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

interface World { key: string; senderToken: string; nodeToken: string; nodeId: string }

async function seed(url: string): Promise<World> {
  const ws = await call(url, 'POST', '/v1/workspaces', undefined, { name: 'bench' })
  const key = ws.api_key as string
  const node = await call(url, 'POST', '/v1/nodes', key, { node_id: 'node_bench', name: 'bench-node', kind: 'ws', role: 'broker', version: 'bench/1' })
  const sender = await call(url, 'POST', '/v1/agents', key, { name: 'bench-sender' })
  for (const a of AGENTS) await call(url, 'POST', '/v1/agents', key, { name: a })
  return { key, senderToken: sender.token, nodeToken: node.token, nodeId: node.id }
}

async function throughput(total: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-engine-'))
  const engine = await startEngine({ port: 0, dataDir: dir })
  try {
    const w = await seed(engine.url)
    const node = await AckingNode.connect(engine.url, w.nodeToken, w.nodeId, 'bench-node')
    // Registration round trip done when all agents are bound.
    await engineBound(engine, w.key)
    const t0 = performance.now()
    await sendAll(engine.url, w.senderToken, total)
    await engineAcked(engine.url, w.key, total, 120_000)
    const seconds = (performance.now() - t0) / 1000
    node.close()
    return total / seconds
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function engineBound(engine: RunningEngine, key: string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const agents = (await call(engine.url, 'GET', '/v1/nodes/bench-node/agents', key)) as unknown[]
    if (agents.length >= AGENTS.length) return
    if (Date.now() > deadline) throw new Error('bench agents did not bind')
    await new Promise((r) => setTimeout(r, 5))
  }
}

async function drainAfterRestart(total: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-drain-'))
  let engine = await startEngine({ port: 0, dataDir: dir })
  try {
    const w = await seed(engine.url)
    await sendAll(engine.url, w.senderToken, total)
    await engine.close()
    engine = await startEngine({ port: 0, dataDir: dir })
    const t0 = performance.now()
    const node = await AckingNode.connect(engine.url, w.nodeToken, w.nodeId, 'bench-node')
    await engineAcked(engine.url, w.key, total, 120_000)
    const ms = performance.now() - t0
    node.close()
    return ms
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function benchEngine(): Promise<EngineBenchResult> {
  const messagesPerSecondTenAgents = await throughput(Number(process.env.BENCH_ENGINE_MESSAGES ?? 5000))
  const drainTenThousandMs = await drainAfterRestart(10_000)
  return {
    messagesPerSecondTenAgents: Math.round(messagesPerSecondTenAgents),
    drainTenThousandMs: Math.round(drainTenThousandMs),
  }
}
