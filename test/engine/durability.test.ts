/**
 * Durability: the engine as a child process (`node out/main/engine.js`, what `npm run engine` runs), 1,000 DMs
 * to an agent whose test node acks slowly (batched, behind a timer), five SIGKILLs at
 * seeded-random points (while sending and while draining), each followed by a restart
 * on the same data dir (same port when free). The test node behaves like a broker that
 * survives the engine: it keeps its session, reconnects, re-registers, and dedups by
 * seq (a message counts as processed when first accepted in order). Every message must
 * be processed exactly once, in seq order, and end up acked in the engine.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { api, waitFor } from './helpers'
import { rng } from '../support/rng'

/** The built engine server, what `npm run engine` runs (npm test's set-up builds it). */
const ENGINE_CLI = join(process.cwd(), 'out/main/engine.js')
const TOTAL = 1000
const KILLS = 5

/** Deterministic RNG (mulberry32) so a failure can be replayed. */

interface EngineProc { child: ChildProcess; url: string; exited: Promise<void> }
const children = new Set<ChildProcess>()

/**
 * The engine runs in its own process group and the whole group is killed, as a crash
 * would (nothing of it may survive holding the port or the database).
 */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL')
  } catch {
    /* already gone */
  }
}

/** Resolves once no process of the group is left (the engine itself, not just the CLI). */
async function groupGone(child: ChildProcess): Promise<void> {
  await waitFor(() => {
    try {
      process.kill(-(child.pid as number), 0)
      return undefined
    } catch {
      return true
    }
  }, 10_000, 'engine process group gone')
}

function startEngineProc(dataDir: string, port: number): Promise<EngineProc> {
  const child = spawn(process.execPath, [ENGINE_CLI, '--port', String(port), '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  children.add(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  const exited = new Promise<void>((r) => child.once('exit', () => {
    children.delete(child)
    r()
  }))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine did not print its URL within 15 s; stderr:\n${stderr}`)), 15_000)
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve({ child, url: line.trim(), exited })
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`engine exited (${code}) before listening; stderr:\n${stderr}`))
    })
  })
}

afterAll(() => {
  for (const c of children) killGroup(c)
})

/** A broker-like node: survives engine restarts, dedups by seq, acks in slow batches. */
class SlowAckNode {
  processed: string[] = []
  lastSeq = 0
  duplicates = 0
  gaps = 0
  private lastAcked = 0
  private ws: WebSocket | undefined
  private ackTimer: NodeJS.Timeout
  agentId = ''
  agentToken = ''

  constructor(private readonly nodeId: string, private readonly nodeName: string, private readonly token: string) {
    // "Slow" acks: cumulative, batched every 15 ms, so kills land between receipt and ack.
    this.ackTimer = setInterval(() => this.flushAck(), 15)
  }

  private flushAck(): void {
    if (this.ws?.readyState === WebSocket.OPEN && this.lastSeq > this.lastAcked) {
      this.ws.send(JSON.stringify({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: this.lastSeq }))
      this.lastAcked = this.lastSeq
    }
  }

  /** Connects, registers, registers bob; resolves when bob's register reply arrived. */
  connect(url: string): Promise<void> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/node/ws', { headers: { authorization: `Bearer ${this.token}` } })
    this.ws = ws
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('node did not get its agent.register reply')), 10_000)
      ws.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      ws.on('open', () => {
        ws.send(JSON.stringify({
          type: 'node.register', v: 1, name: this.nodeName, node_id: this.nodeId, max_agents: 0, tags: [], version: 'test/1',
          capabilities: [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }], resume_cursor: null,
        }))
        ws.send(JSON.stringify({ type: 'node.heartbeat', v: 1, active_agents: 1, handlers_live: true, load: 0 }))
        ws.send(JSON.stringify({ type: 'agent.register', v: 1, id: 'reg-bob', name: 'bob' }))
      })
      ws.on('message', (raw) => {
        const f = JSON.parse(raw.toString()) as Record<string, any>
        if (f.type === 'reply' && f.id === 'reg-bob') {
          this.agentId = f.data.agent_id
          this.agentToken = f.data.token
          // The engine's cursor may lag what we processed (acks are slow): that is fine,
          // the replay above it is deduped below. It must never be ahead of us.
          if (f.data.delivery_ack_seq > this.lastSeq) reject(new Error(`engine cursor ${f.data.delivery_ack_seq} ahead of processed ${this.lastSeq}`))
          this.lastAcked = Math.min(this.lastAcked, f.data.delivery_ack_seq)
          clearTimeout(timer)
          resolve()
        } else if (f.type === 'deliver' && f.seq > 0) {
          if (f.seq <= this.lastSeq) this.duplicates++
          else if (f.seq === this.lastSeq + 1) {
            this.lastSeq = f.seq
            this.processed.push(f.payload.data.text as string)
          } else this.gaps++
        }
      })
    })
  }

  drop(): void {
    this.ws?.removeAllListeners()
    this.ws?.on('error', () => undefined)
    this.ws?.terminate()
  }

  stop(): void {
    clearInterval(this.ackTimer)
    this.drop()
  }
}

describe('durability', () => {
  it(`${TOTAL} messages, ${KILLS} SIGKILLs: each processed exactly once, in seq order, all acked`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-durability-'))
    const random = rng(0xdec0de)
    let proc = await startEngineProc(dataDir, 0)
    const port = Number(new URL(proc.url).port)
    try {
      const ws = await api(proc.url, 'POST', '/v1/workspaces', { body: { name: 'durable' } })
      const key = ws.body.data.api_key as string
      const node = await api(proc.url, 'POST', '/v1/nodes', { token: key, body: { node_id: 'node_slow', name: 'slow', kind: 'ws', role: 'broker', version: 'test/1' } })
      const alice = await api(proc.url, 'POST', '/v1/agents', { token: key, body: { name: 'alice' } })
      const aliceToken = alice.body.data.token as string
      const slow = new SlowAckNode('node_slow', 'slow', node.body.data.token)
      await slow.connect(proc.url)

      // Kill points: four while sending, one after the last send (while draining).
      const killAt = new Set<number>()
      while (killAt.size < KILLS - 1) killAt.add(50 + Math.floor(random() * (TOTAL - 100)))
      const restart = async () => {
        slow.drop()
        killGroup(proc.child)
        await proc.exited
        await groupGone(proc.child)
        // Same port if it is free, else a new one: the node follows the URL either way.
        proc = await startEngineProc(dataDir, port).catch(() => startEngineProc(dataDir, 0))
        await slow.connect(proc.url)
      }

      let kills = 0
      let restarting: Promise<void> | undefined
      const restartOnce = (): Promise<void> => {
        restarting ??= restart().finally(() => {
          restarting = undefined
        })
        return restarting
      }
      // Sends run in 8 lanes; a send a kill interrupted is retried with the same
      // Idempotency-Key: the engine either never wrote it or returns what it wrote.
      const send = async (i: number) => {
        for (let attempt = 0; ; attempt++) {
          await restarting
          const url = proc.url
          try {
            const res = await fetch(`${url}/v1/dm`, {
              method: 'POST',
              headers: { authorization: `Bearer ${aliceToken}`, 'content-type': 'application/json', 'idempotency-key': `m${i}` },
              body: JSON.stringify({ to: 'bob', text: `m${i}` }),
            })
            if (res.status === 201 || res.status === 200) return
            throw new Error(`send m${i} → ${res.status} ${await res.text()}`)
          } catch (err) {
            if (attempt > 5) throw err
            // Only the lane that saw the dead engine first restarts it.
            if (proc.url === url && !restarting) {
              kills++
              await restartOnce()
            }
          }
        }
      }
      let next = 0
      const lane = async () => {
        while (next < TOTAL) {
          const i = next++
          if (killAt.has(i)) {
            killAt.delete(i)
            kills++
            await restartOnce()
          }
          await send(i)
        }
      }
      await Promise.all(Array.from({ length: 8 }, lane))
      // The last kill lands while the backlog is still draining.
      await waitFor(() => slow.lastSeq >= TOTAL - 200 || undefined, 20_000, 'drain progress')
      await restart()
      kills++

      await waitFor(() => slow.lastSeq === TOTAL || undefined, 30_000, `all ${TOTAL} processed (at ${slow.lastSeq})`)
      const bob = await waitFor(async () => {
        const r = await api(proc.url, 'GET', '/v1/agents/bob', { token: key })
        return r.body.data.delivery_ack_seq === TOTAL ? r.body.data : undefined
      }, 10_000, 'engine cursor at 1000')

      expect(kills).toBeGreaterThanOrEqual(KILLS)
      // Seq order is the node's processing order; every message exactly once.
      expect(slow.processed).toHaveLength(TOTAL)
      expect(new Set(slow.processed)).toEqual(new Set(Array.from({ length: TOTAL }, (_, i) => `m${i}`)))
      expect(slow.gaps).toBe(0)
      expect(bob.pending_deliveries).toBe(0)
      expect(bob.delivery_seq).toBe(TOTAL) // no message written twice
      // Every row acked, none in any other state.
      const open = await api(proc.url, 'GET', '/v1/deliveries?status=queued,delivered,failed,dead_lettered&limit=500', { token: slow.agentToken })
      expect(open.body.data).toEqual([])
      let acked = 0
      let after = 0
      for (;;) {
        const page = await api(proc.url, 'GET', `/v1/deliveries?status=acked&limit=500&after=${after}`, { token: slow.agentToken })
        const rows = page.body.data as Array<{ seq: number; acked_at: string | null }>
        if (rows.length === 0) break
        for (const r of rows) {
          expect(r.seq).toBe(++acked)
          expect(r.acked_at).not.toBeNull()
        }
        after = rows[rows.length - 1]!.seq
      }
      expect(acked).toBe(TOTAL)
      slow.stop()
    } finally {
      killGroup(proc.child)
      await proc.exited
      await groupGone(proc.child)
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})
