/**
 * Several engine instances on one PostgreSQL database act as one engine (issue 14): mail
 * posted on one instance reaches a node connected to another at once (LISTEN/NOTIFY, not the
 * re-drive sweep, which is set to 10 minutes here), one instance leads the sweeps and another
 * takes over when it dies, a node that moves to another instance is dropped by the first, and
 * under load with an instance SIGKILLed and restarted nothing is lost, typed twice or reordered.
 *
 * Real parts only: a throwaway PostgreSQL 15 cluster, engine instances as child processes,
 * WebSocket nodes that type what they receive the way the broker does (test/support/load-node).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Broker, type BrokerEvent } from '../../electron/broker'
import { EngineApi } from '../../electron/broker/engine-api'
import { killAndRestart, runClusterLoad } from '../support/cluster-load'
import { startTcpBalancer } from '../support/tcp-balancer'
import { tempDir } from '../support/wait'
import { startEngineCluster, type EngineCluster } from '../support/engine-cluster'
import { LoadNode } from '../support/load-node'
import { postgresAvailability, usePostgres, type PostgresCluster } from '../support/postgres'
import { api, NodeClient, seedWorld, UserClient, waitFor } from './helpers'

const pgAvailability = postgresAvailability()
const pgNote = pgAvailability.ok ? '' : ` (skipped: ${pgAvailability.reason})`

/** Long enough that anything that arrives within a test came by push, not by a sweep. */
const NO_SWEEP_MS = '600000'

async function health(url: string): Promise<{ instance: string; leader: boolean } | undefined> {
  try {
    const res = await fetch(`${url}/health`)
    return ((await res.json()) as { data: { instance: string; leader: boolean } }).data
  } catch {
    return undefined
  }
}

describe.skipIf(!pgAvailability.ok)(`engine cluster on PostgreSQL${pgNote}`, () => {
  let pg: PostgresCluster
  let cluster: EngineCluster | undefined
  const nodes: LoadNode[] = []

  beforeAll(async () => {
    pg = await usePostgres()
  }, 60_000)

  afterEach(async () => {
    await Promise.all([...UserClient.opened].map((u) => u.close()))
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    await cluster?.stop()
    cluster = undefined
  }, 30_000)

  afterAll(async () => {
    await pg?.stop()
  }, 30_000)

  it('a DM posted on one instance is typed by a node connected to another, without waiting for a sweep', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const [a, b] = cluster.urls as [string, string]
    const w = await seedWorld(a)
    const node = new LoadNode({ urls: [b], token: w.nodeToken, nodeId: w.nodeId, name: w.nodeName, agents: ['worker'] })
    nodes.push(node)
    await node.start(10_000)
    // All on A: a post on B would also send what B had not seen yet (from the store).
    for (let i = 1; i <= 20; i++) {
      const res = await api(a, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'worker', text: `hello #${i}` } })
      expect(res.status).toBe(201)
    }
    await node.waitForTyped(20, 10_000)
    expect(node.typed('worker').map((t) => t.text)).toEqual(Array.from({ length: 20 }, (_, i) => `hello #${i + 1}`))
    expect(node.stats().duplicates).toBe(0)
    // Acks from the node on B moved the cursor every instance reads.
    await waitFor(async () => (await api(a, 'GET', '/v1/agents/worker', { token: w.wsKey })).body.data?.delivery_ack_seq === 20, 5000, 'ack seen on A')
  }, 60_000)

  it('`engine --database-url`: two CLI processes on one database serve one workspace', async () => {
    const databaseUrl = await pg.createDatabase()
    const dir = mkdtempSync(join(tmpdir(), 'relay-engine-cli-pg-'))
    const children = [0, 1].map(() =>
      spawn(join(process.cwd(), 'node_modules/.bin/tsx'), [join(process.cwd(), 'electron/engine/cli.ts'), '--port', '0', '--data-dir', dir, '--database-url', databaseUrl], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }))
    try {
      const [a, b] = await Promise.all(children.map((child) => new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve)
        child.once('exit', (code) => reject(new Error(`engine exited early (${code})`)))
      })))
      const ws = await api(a as string, 'POST', '/v1/workspaces', { body: { name: 'team' } })
      const key = ws.body.data.api_key as string
      await api(a as string, 'POST', '/v1/agents', { token: key, body: { name: 'reviewer' } })
      const seen = await api(b as string, 'GET', '/v1/agents/reviewer', { token: key })
      expect(seen.status).toBe(200)
      expect(seen.body.data.name).toBe('reviewer')
      const ids = await Promise.all([a, b].map(async (u) => (await health(u as string))?.instance))
      expect(new Set(ids).size).toBe(2)
    } finally {
      await Promise.all(children.map((child) => new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      })))
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it('exactly one instance runs the sweeps; when it dies, another takes over', async () => {
    cluster = await startEngineCluster({ instances: 3, databaseUrl: await pg.createDatabase() })
    const c = cluster
    const leaders = async () => {
      const all = await Promise.all(c.urls.map((u, i) => (c.alive(i) ? health(u) : undefined)))
      return all.flatMap((h, i) => (h?.leader ? [i] : []))
    }
    const first = (await waitFor(async () => {
      const l = await leaders()
      return l.length === 1 ? l : undefined
    }, 10_000, 'one leader'))[0] as number
    const t0 = Date.now()
    await c.kill(first, 'SIGKILL')
    const next = (await waitFor(async () => {
      const l = await leaders()
      return l.length === 1 ? l : undefined
    }, 10_000, 'a new leader'))[0] as number
    expect(next).not.toBe(first)
    expect(Date.now() - t0).toBeLessThan(10_000)
    // The restarted instance finds the lock held and follows.
    await c.restart(first)
    const after = await waitFor(async () => {
      const l = await leaders()
      return (await health(c.url(first))) && l.length === 1 ? l : undefined
    }, 10_000, 'leaders after restart')
    expect(after).toEqual([next])
  }, 60_000)

  it('a node that registers on another instance is dropped by the first (no two live sockets)', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const [a, b] = cluster.urls as [string, string]
    const w = await seedWorld(a)
    const onA = await NodeClient.connect(a, w.nodeToken)
    await onA.register(w.nodeName, w.nodeId)
    const onB = await NodeClient.connect(b, w.nodeToken)
    try {
      await onB.register(w.nodeName, w.nodeId)
      await waitFor(() => onA.closed, 5000, 'the socket on A closed')
      expect(onA.closed?.reason).toBe('superseded')
      // The node stays online (B holds it), as seen from A.
      const seen = await api(a, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })
      expect(seen.body.data.status).toBe('online')
    } finally {
      await onB.close()
      await onA.close()
    }
  }, 60_000)

  it('a spawn requested on one instance is dispatched to a node connected to another, and its result completes it', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const [a, b] = cluster.urls as [string, string]
    const w = await seedWorld(a)
    const onB = await NodeClient.connect(b, w.nodeToken)
    try {
      onB.send({ type: 'node.register', v: 1, id: 'reg', name: w.nodeName, node_id: w.nodeId, capabilities: [{ name: 'spawn:cat' }], max_agents: 0, tags: [], version: 'test', resume_cursor: null })
      await onB.next((f) => f.type === 'reply' && f.id === 'reg')
      onB.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0 })
      await waitFor(async () => (await api(a, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data.handlers_live, 5000, 'handlers live, seen from A')
      const res = await api(a, 'POST', '/v1/agents/spawn', { token: w.aliceToken, body: { name: 'cat-1', cli: 'cat' } })
      expect(res.status).toBe(201)
      expect(res.body.data).toMatchObject({ status: 'dispatched', dispatched_node: w.nodeName })
      const frame = await onB.next((f) => f.type === 'action.invoke', 5000)
      expect(frame).toMatchObject({ invocation_id: res.body.data.invocation_id, action: 'spawn:cat', input: { name: 'cat-1', cli: 'cat' } })
      onB.send({ type: 'action.result', v: 1, invocation_id: frame.invocation_id, output: { agent: 'cat-1' } })
      await waitFor(async () => (await api(a, 'GET', `/v1/actions/spawn/invocations/${frame.invocation_id}`, { token: w.wsKey })).body.data.status === 'completed', 5000, 'completed, seen from A')
    } finally {
      await onB.close()
    }
  }, 60_000)

  it('a human client on one instance: listed in presence everywhere, gets DMs posted on another, and delivery.updated for its own messages acked there', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const [a, b] = cluster.urls as [string, string]
    const w = await seedWorld(a)
    const bob = (await api(a, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })).body.data.token as string
    const node = new LoadNode({ urls: [a], token: w.nodeToken, nodeId: w.nodeId, name: w.nodeName, agents: ['worker'] })
    nodes.push(node)
    await node.start(10_000)
    const alice = await UserClient.open(b, w.aliceToken)
    const users = async (url: string) => (await api(url, 'GET', '/v1/presence', { token: w.wsKey })).body.data.users as Array<{ name: string; connections: number }>
    await waitFor(async () => (await users(a)).some((u) => u.name === 'alice' && u.connections === 1), 5000, 'alice (on B) in presence on A')
    expect(await users(b)).toMatchObject([{ name: 'alice', connections: 1 }])

    // Posted on A, pushed to alice's client on B.
    expect((await api(a, 'POST', '/v1/dm', { token: bob, body: { to: 'alice', text: 'ping from A' } })).status).toBe(201)
    const got = await alice.next((f) => f.type === 'message' && f.message?.text === 'ping from A', 5000)
    expect(got.seq).toBe(1)

    // Alice's own DM to the worker (node on A), typed and acked on A: B tells her.
    const sent = (await api(a, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'worker', text: 'hello worker' } })).body.data
    await node.waitForTyped(1, 5000)
    await alice.next((f) => f.type === 'delivery.updated' && f.message_id === sent.id && f.status === 'acked', 5000)

    // DMs to her posted at once on both instances (they queue on her row lock in either
    // order): her client on B gets every seq exactly once, in order — none skipped because a
    // later one committed on B was pushed before an earlier one committed on A was announced.
    const carol = (await api(a, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'carol' } })).body.data.token as string
    const posts = await Promise.all(Array.from({ length: 60 }, (_, i) =>
      api(i % 2 ? a : b, 'POST', '/v1/dm', { token: i % 3 ? bob : carol, body: { to: 'alice', text: `burst ${i}` } })))
    expect(posts.every((p) => p.status === 201)).toBe(true)
    await waitFor(() => alice.messages().length === 61, 10_000, 'all 61 messages on her client')
    expect(alice.messages().map((m) => m.seq)).toEqual(Array.from({ length: 61 }, (_, i) => i + 1))

    // Her client goes: presence on A forgets her.
    await alice.close()
    await waitFor(async () => !(await users(a)).some((u) => u.name === 'alice'), 5000, 'alice gone from presence on A')
  }, 60_000)

  it('the desktop broker behind a load balancer: its instance is SIGKILLed, it reconnects through the balancer to another and every DM is typed into cat once, in order', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const lb = await startTcpBalancer(cluster.urls)
    const api = new EngineApi({ baseUrl: lb.url })
    const ws = await api.createWorkspace('team')
    const stateDir = tempDir('cluster-node')
    const events: BrokerEvent[] = []
    let output = ''
    const broker = new Broker({
      log: () => undefined, baseUrl: lb.url, workspaceKey: ws.api_key, workspaceId: ws.workspace_id, stateDir, nodeName: 'desk',
      env: { ...process.env, RELAY_NODE_TOKEN: '' }, cwd: () => stateDir, nodeClient: { initialReconnectDelayMs: 50, maxReconnectDelayMs: 200 },
    })
    broker.on((e) => {
      events.push(e)
      if (e.type === 'agent.output' && e.name === 'catty') output += e.data
    })
    try {
      await broker.start()
      await waitFor(() => broker.state.state === 'connected', 10_000, 'broker connected')
      await broker.spawn({ name: 'catty', command: 'cat', cwd: '/tmp' })
      const bob = await api.ensureAgent(ws.api_key, 'bob')
      const acked = () => events.filter((e) => e.type === 'delivery' && e.step.state === 'acked').length
      // As a client of a team engine should: a POST whose connection died with its instance is
      // sent again (through the balancer, to a live one) with the same Idempotency-Key, so it
      // is never posted twice.
      const send = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          for (let attempt = 1; ; attempt++) {
            const res = await fetch(`${lb.url}/v1/dm`, {
              method: 'POST',
              headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json', 'idempotency-key': `fo-${i}` },
              body: JSON.stringify({ to: 'catty', text: `fo-${i}-x` }),
            }).catch((err: unknown) => err as Error)
            if (!(res instanceof Error) && res.status < 500) {
              expect([200, 201]).toContain(res.status) // 200: a retry the engine had already committed
              break
            }
            if (attempt >= 5) throw new Error(`fo-${i} not posted: ${res instanceof Error ? res.message : res.status}`)
          }
        }
      }
      await send(0, 10)
      await waitFor(() => acked() === 10, 10_000, '10 typed and acked before the fault')

      // The instance holding the broker's WebSocket dies; the balancer sends the reconnect to the other.
      const holder = lb.openTo(0) > 0 ? 0 : 1
      expect(lb.openTo(holder)).toBeGreaterThan(0)
      await cluster.kill(holder, 'SIGKILL')
      await send(10, 20) // through the balancer, to the surviving instance
      await waitFor(() => acked() === 20, 20_000, 'all 20 acked after the fail-over')
      await waitFor(() => (output.match(/\]: fo-19-x/g) ?? []).length === 2, 5000, 'cat printed the last line back')
      const typed = [...output.matchAll(/\]: fo-(\d+)-x/g)].map((m) => Number(m[1]))
      // cat echoes the typed line, then prints it again: each exactly twice, first copies in order.
      expect(typed.filter((x, i) => typed.indexOf(x) === i)).toEqual(Array.from({ length: 20 }, (_, i) => i))
      for (let i = 0; i < 20; i++) expect(typed.filter((x) => x === i), `fo-${i}`).toHaveLength(2)
      expect(lb.openTo(1 - holder)).toBeGreaterThan(0)
    } finally {
      await broker.stop()
      await lb.close()
    }
  }, 90_000)

  it('one name created at once on two instances: one 201, one 409 (not a 500)', async () => {
    cluster = await startEngineCluster({ instances: 2, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: NO_SWEEP_MS } })
    const [a, b] = cluster.urls as [string, string]
    const w = await seedWorld(a)
    for (let i = 0; i < 5; i++) {
      const got = await Promise.all([a, b].map((u) => api(u, 'POST', '/v1/agents', { token: w.wsKey, body: { name: `twin-${i}` } })))
      expect(got.map((g) => g.status).sort()).toEqual([201, 409])
    }
  }, 60_000)

  it('load and fault: 3 instances, 6 nodes, 60 agents, 3,000 DMs; one instance SIGKILLed and restarted: 0 lost, 0 typed twice, in order', async () => {
    cluster = await startEngineCluster({ instances: 3, databaseUrl: await pg.createDatabase(), env: { RELAY_REDRIVE_MS: '2000' } })
    const r = await runClusterLoad({
      urls: cluster.urls, nodes: 6, agentsPerNode: 10, dms: 3000, senders: 6, concurrency: 32,
      faults: killAndRestart(cluster, 1, { killAt: 0.3, restartAt: 0.6 }),
      drainTimeoutMs: 60_000,
    })
    const summary = `posted ${r.posted}, typed ${r.typed}, lost ${r.lost} ${JSON.stringify(r.lostSample)}, dup ${r.duplicates}, order ${r.orderViolationsTotal}, ` +
      `${r.messagesPerSecond} msg/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, failovers ${r.failovers.length}, errors ${r.errors.slice(0, 3).join('; ')}`
    expect(r.posted, summary).toBe(3000)
    expect(r.lost, summary).toBe(0)
    expect(r.duplicates, summary).toBe(0)
    expect(r.msgIdDuplicates, summary).toBe(0)
    expect(r.orderViolationsTotal, summary).toBe(0)
    expect(r.typed, summary).toBe(3000)
    // The nodes on the killed instance moved to the others.
    expect(r.failovers.length, summary).toBeGreaterThan(0)
  }, 180_000)
})
