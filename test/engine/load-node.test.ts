/**
 * The load-and-fault harness proves itself against one SQLite engine before it measures a
 * cluster: LoadNode (test/support/load-node.ts) types each message once and in seq order,
 * holds gaps, re-acks stale redeliveries without typing them, and after a socket close
 * reconnects to the next url and resumes; runClusterLoad + startEngineCluster survive a
 * SIGKILL and a restart of their (single, SQLite) instance with nothing lost or doubled.
 * Every wait is on an event with a bound.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runClusterLoad } from '../support/cluster-load'
import { startEngineCluster, type EngineCluster } from '../support/engine-cluster'
import { AgentCursor, LoadNode } from '../support/load-node'
import { api, NodeClient, seedWorld, startTestEngine, type Harness, type World } from './helpers'

let h: Harness | undefined
let cluster: EngineCluster | undefined
const nodes: LoadNode[] = []
const clients: NodeClient[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
  await cluster?.stop()
  cluster = undefined
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function loadNode(urls: string[], w: World, agents: string[]): LoadNode {
  const n = new LoadNode({ urls, token: w.nodeToken, nodeId: w.nodeId, name: w.nodeName, agents })
  nodes.push(n)
  return n
}

/** DMs from alice, all in flight at once; resolves with the 201 bodies. */
async function post(url: string, w: World, to: string[], texts: string[]): Promise<Array<{ id: string; seq: number; to: string; text: string }>> {
  const answers = await Promise.all(texts.map((text, i) => api(url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: to[i % to.length], text } })))
  return answers.map((a, i) => {
    expect(a.status).toBe(201)
    return { id: a.body.data.id, seq: a.body.data.delivery.seq, to: to[i % to.length] as string, text: texts[i] as string }
  })
}

/**
 * The engine's committed acks, from its `acked` events (observation only), recorded from the
 * engine's start so none is missed; `wait` resolves on the event that reaches `seq`.
 */
function trackAcks(harness: Harness) {
  const upTo = new Map<string, number>()
  const waiters = new Set<() => void>()
  harness.engine.events.on('acked', (e) => {
    upTo.set(e.agentId, Math.max(upTo.get(e.agentId) ?? 0, e.upToSeq))
    for (const w of waiters) w()
  })
  return {
    wait(node: LoadNode, agent: string, seq: number, timeoutMs = 3000): Promise<void> {
      const id = node.agentId(agent)
      if (!id) return Promise.reject(new Error(`${agent} is not registered`))
      return new Promise((resolve, reject) => {
        const check = () => {
          if ((upTo.get(id) ?? 0) < seq) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`engine recorded no ack of ${agent} up to ${seq} within ${timeoutMs} ms (has ${upTo.get(id) ?? 0})`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
  }
}

/** A port nothing listens on (bound and released). */
function deadUrl(): Promise<string> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(`http://127.0.0.1:${port}`))
    })
  })
}

describe('AgentCursor (the broker model, frame by frame)', () => {
  it('types seq cursor+1 and the held run it completes, holds gaps, and never types a seq <= cursor', () => {
    const c = new AgentCursor()
    const d = (seq: number) => ({ seq, msgId: `m${seq}`, text: `t${seq}` })
    expect(c.offer(d(1))).toEqual({ kind: 'typed', items: [d(1)] })
    expect(c.offer(d(3))).toEqual({ kind: 'held' })
    expect(c.offer(d(4))).toEqual({ kind: 'held' })
    expect(c.heldCount).toBe(2)
    expect(c.offer(d(2))).toEqual({ kind: 'typed', items: [d(2), d(3), d(4)] })
    expect(c.offer(d(2))).toEqual({ kind: 'stale' })
    expect(c.offer(d(4))).toEqual({ kind: 'stale' })
    expect(c.cursor).toBe(4)
    expect(c.heldCount).toBe(0)
    // An engine cursor ahead of ours moves it (the skipped seqs are reported), held ones below drop.
    c.offer(d(7))
    expect(c.seed(6)).toBe(2)
    expect(c.offer(d(7))).toEqual({ kind: 'typed', items: [d(7)] })
    expect(c.seed(3)).toBe(0)
    expect(c.cursor).toBe(7)
  })
})

describe('LoadNode against one SQLite engine', () => {
  it('types N DMs to several agents once each, in the seq order of their 201s, and acks them', async () => {
    h = await startTestEngine()
    const acks = trackAcks(h)
    const w = await seedWorld(h.url)
    const agents = ['ann', 'ben', 'cat']
    const node = loadNode([h.url], w, agents)
    await node.start(5000)
    const sent = await post(h.url, w, agents, Array.from({ length: 60 }, (_, i) => `m${i}`))
    await node.waitForTyped(60, 5000)
    for (const a of agents) {
      const expected = sent.filter((s) => s.to === a).sort((x, y) => x.seq - y.seq)
      expect(node.typed(a).map((t) => t.msgId)).toEqual(expected.map((s) => s.id))
      expect(node.typed(a).map((t) => t.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(node.stats().perAgent[a]?.texts).toEqual(expected.map((s) => s.text))
      await acks.wait(node, a, 20)
    }
    const s = node.stats()
    expect(s).toMatchObject({ typed: 60, duplicates: 0, outOfOrder: 0, stale: 0, gapsHeld: 0, skipped: 0, reconnects: 0, problems: [] })
  })

  it('after an engine restart on the same data dir and port it reconnects, gets its unacked mail again as stale seqs, types nothing twice, and resumes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-loadnode-'))
    dirs.push(dataDir)
    h = await startTestEngine({}, dataDir)
    let acks = trackAcks(h)
    const port = h.engine.port
    const w = await seedWorld(h.url)
    const node = loadNode([h.url], w, ['ann', 'ben'])
    await node.start(5000)
    const sent = await post(h.url, w, ['ann', 'ben'], Array.from({ length: 10 }, (_, i) => `before-${i}`))
    await node.waitForTyped(10, 5000)
    await acks.wait(node, 'ann', 5)
    await acks.wait(node, 'ben', 5)

    // Typed, but the acks die with the socket: the engine's cursor stays at 5.
    node.pauseAcks()
    sent.push(...(await post(h.url, w, ['ann', 'ben'], Array.from({ length: 6 }, (_, i) => `unacked-${i}`))))
    await node.waitForTyped(16, 5000)
    expect([node.cursor('ann'), node.cursor('ben')]).toEqual([8, 8])

    await h.engine.close('restart')
    h = await startTestEngine({ port }, dataDir)
    acks = trackAcks(h)
    expect(h.url).toBe(node.urls[0])
    // On agent.register the engine replays from its cursor (5): seqs 6..8 come back, stale.
    await node.until(() => node.stats().stale >= 6, 'the unacked seqs replayed', 5000)
    node.resumeAcks()
    await acks.wait(node, 'ann', 8)
    await acks.wait(node, 'ben', 8)
    sent.push(...(await post(h.url, w, ['ann', 'ben'], Array.from({ length: 4 }, (_, i) => `after-${i}`))))
    await node.waitForTyped(20, 5000)

    const s = node.stats()
    expect(s).toMatchObject({ typed: 20, duplicates: 0, outOfOrder: 0, skipped: 0, reconnects: 1, problems: [] })
    expect(s.stale).toBe(6)
    expect(s.failovers).toHaveLength(1)
    expect(s.failovers[0]?.agentsMs).toBeGreaterThanOrEqual(s.failovers[0]?.ms ?? Infinity)
    for (const a of ['ann', 'ben']) {
      const expected = sent.filter((x) => x.to === a).sort((x, y) => x.seq - y.seq)
      expect(expected.map((x) => x.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
      expect(s.perAgent[a]?.texts).toEqual(expected.map((x) => x.text))
      expect(s.perAgent[a]?.msgIds).toEqual(expected.map((x) => x.id))
    }
  })

  it('when the engine closes its socket (superseded) it fails over to the next url, past a dead one, and loses nothing', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const dead = await deadUrl()
    // Round robin from urls[0]: a drop goes to urls[1] (dead, refused), then urls[2].
    const urls = [h.url, dead, h.url]
    const node = loadNode(urls, w, ['ann', 'ben'])
    await node.start(5000)
    const sent = await post(h.url, w, ['ann', 'ben'], Array.from({ length: 10 }, (_, i) => `one-${i}`))
    await node.waitForTyped(10, 5000)

    const dropped = new Promise<{ code: number; reason: string }>((resolve) => node.once('disconnected', resolve))
    const intruder = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(intruder)
    expect(await dropped).toMatchObject({ code: 1000, reason: 'superseded' })
    await node.waitForReady(5000)
    sent.push(...(await post(h.url, w, ['ann', 'ben'], Array.from({ length: 10 }, (_, i) => `two-${i}`))))
    await node.waitForTyped(20, 5000)

    const s = node.stats()
    expect(s).toMatchObject({ typed: 20, duplicates: 0, outOfOrder: 0, skipped: 0, reconnects: 1, connectFailures: 1, urlIndex: 2, problems: [] })
    expect(s.failovers).toEqual([expect.objectContaining({ from: urls[0], to: urls[2], attempts: 2 })])
    for (const a of ['ann', 'ben']) {
      const expected = sent.filter((x) => x.to === a).sort((x, y) => x.seq - y.seq)
      expect(node.typed(a).map((t) => t.msgId)).toEqual(expected.map((x) => x.id))
      expect(node.typed(a).slice(0, 5).every((t) => t.text.startsWith('one-') && t.url === urls[0])).toBe(true)
      expect(node.typed(a).slice(5).every((t) => t.text.startsWith('two-') && t.url === urls[2])).toBe(true)
    }
  })
})

describe('runClusterLoad on a one-instance SQLite cluster (child process)', () => {
  it('survives a SIGKILL and a restart on the same port mid-load: every posted DM typed once, in stream order', async () => {
    cluster = await startEngineCluster({ instances: 1 })
    const c = cluster
    const r = await runClusterLoad({
      urls: c.urls, nodes: 2, agentsPerNode: 3, dms: 300, senders: 2, concurrency: 16, drainTimeoutMs: 15_000,
      // One instance: the restart must follow the kill inside one hook (nothing posts while it is down).
      faults: [{ at: 0.3, label: 'SIGKILL + restart', run: async () => { await c.kill(0, 'SIGKILL'); await c.restart(0) } }],
    })
    const diag = JSON.stringify({ ...r, stderr: c.stderr(0).slice(-2000) }, null, 1)
    expect(r.errors, diag).toEqual([])
    expect(r).toMatchObject({ posted: 300, typed: 300, lost: 0, duplicates: 0, msgIdDuplicates: 0, orderViolationsTotal: 0, skipped: 0, typedUnposted: 0, gapsHeld: 0 })
    expect(r.faults).toEqual([expect.objectContaining({ label: 'SIGKILL + restart' })])
    expect(r.faults[0]?.error).toBeUndefined()
    // Both nodes lost their socket with the instance and came back to it.
    expect(r.reconnects).toBe(2)
    expect(r.failovers).toHaveLength(2)
    expect(c.exits).toEqual([expect.objectContaining({ instance: 0, signal: 'SIGKILL', expected: true })])
    expect(r.latencyMs.p50).toBeGreaterThan(0)
    expect(r.messagesPerSecond).toBeGreaterThan(0)
  })
})
