/**
 * Spawn placement and the invocation lifecycle (engine.md §4) over real HTTP + node
 * sockets, with an injected clock for timeouts, backoff and expiry (no real waiting
 * beyond the 20 ms sweep cadence); plus the liveness sweep.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { api, NodeClient, seedWorld, startTestEngine, waitFor, type Frame, type Harness } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
})

const T0 = Date.parse('2026-03-01T00:00:00Z')

async function enrol(url: string, wsKey: string, name: string): Promise<{ id: string; token: string }> {
  const r = await api(url, 'POST', '/v1/nodes', { token: wsKey, body: { node_id: `node_${name}`, name, kind: 'ws', role: 'broker', version: 'test' } })
  return { id: r.body.data.id, token: r.body.data.token }
}

/** Connect + register a node advertising `caps`, with a given load and capacity. */
async function liveNode(url: string, wsKey: string, name: string, caps: string[], opts: { load?: number; max?: number; active?: number } = {}): Promise<NodeClient> {
  const n = await enrol(url, wsKey, name)
  const c = await NodeClient.connect(url, n.token)
  clients.push(c)
  c.send({ type: 'node.register', v: 1, id: `reg-${name}`, name, node_id: n.id, capabilities: caps.map((x) => ({ name: x })), max_agents: opts.max ?? 0, tags: [], version: 'test', resume_cursor: null })
  await c.next((f) => f.type === 'reply' && f.id === `reg-${name}`)
  c.send({ type: 'node.heartbeat', v: 1, active_agents: opts.active ?? 0, handlers_live: true, load: opts.load ?? 0 })
  await waitFor(async () => (await api(url, 'GET', `/v1/nodes/${name}`, { token: wsKey })).body.data.handlers_live, 3000, `${name} live`)
  return c
}

const invokes = (c: NodeClient): Frame[] => c.frames.filter((f) => f.type === 'action.invoke')
const inv = async (url: string, key: string, id: string) => (await api(url, 'GET', `/v1/actions/spawn/invocations/${id}`, { token: key })).body.data

describe('spawn placement', () => {
  it('least-loaded live node with spawn:<cli>; action.invoke frame; action.result completes it', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const busy = await liveNode(h.url, w.wsKey, 'busy', ['spawn:cat'], { load: 0.8 })
    const idle = await liveNode(h.url, w.wsKey, 'idle', ['spawn:cat'], { load: 0.1 })
    await liveNode(h.url, w.wsKey, 'other', ['spawn:codex'], { load: 0 })
    const res = await api(h.url, 'POST', '/v1/agents/spawn', { token: w.aliceToken, body: { name: 'cat-1', cli: 'cat', task: 'echo' } })
    expect(res.status).toBe(201)
    expect(res.body.data).toMatchObject({ action_name: 'spawn', capability: 'spawn:cat', status: 'dispatched', dispatched_node: 'idle' })
    const frame = await idle.next((f) => f.type === 'action.invoke')
    expect(frame).toMatchObject({ v: 1, invocation_id: res.body.data.invocation_id, action: 'spawn:cat', input: { name: 'cat-1', cli: 'cat', task: 'echo' } })
    expect(invokes(busy)).toEqual([])
    expect((await api(h.url, 'GET', '/v1/nodes/idle', { token: w.wsKey })).body.data.reserved_agents).toBe(1)
    idle.send({ type: 'action.result', v: 1, invocation_id: frame.invocation_id, output: { agent: 'cat-1', status: 'started' } })
    await waitFor(async () => (await inv(h!.url, w.wsKey, frame.invocation_id)).status === 'completed', 3000, 'completed')
    expect(await inv(h.url, w.wsKey, frame.invocation_id)).toMatchObject({ output: { agent: 'cat-1', status: 'started' }, attempts: 1 })
    expect((await api(h.url, 'GET', '/v1/nodes/idle', { token: w.wsKey })).body.data.reserved_agents).toBe(0)
    // A result from a node the invocation is not on is ignored.
    busy.send({ type: 'action.result', v: 1, invocation_id: frame.invocation_id, error: 'late' })
    await busy.registerAgent('probe') // round trip: the result above was handled
    expect((await inv(h.url, w.wsKey, frame.invocation_id)).status).toBe('completed')
    // The generic invoke route places the same way.
    const viaInvoke = await api(h.url, 'POST', '/v1/actions/spawn/invoke', { token: w.wsKey, body: { input: { name: 'cat-2', cli: 'cat' } } })
    expect(viaInvoke.body.data).toMatchObject({ status: 'dispatched', dispatched_node: 'idle' })
    expect((await api(h.url, 'POST', '/v1/actions/deploy/invoke', { token: w.wsKey, body: {} })).body.error?.code).toBe('action_not_found')
  })

  it('explicit target: 404 unknown, 409 capability_mismatch, 503 full, offline → queued then drained on register; none → 503', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const spawn = (body: Record<string, unknown>) => api(h!.url, 'POST', '/v1/agents/spawn', { token: w.wsKey, body: { name: 'x', cli: 'cat', ...body } })
    expect(await spawn({})).toMatchObject({ status: 503, body: { error: { code: 'handler_unavailable' } } })
    expect(await spawn({ target_node: 'ghost' })).toMatchObject({ status: 404, body: { error: { code: 'node_not_found' } } })
    await liveNode(h.url, w.wsKey, 'codex-only', ['spawn:codex'])
    expect(await spawn({ target_node: 'codex-only' })).toMatchObject({ status: 409, body: { error: { code: 'capability_mismatch' } } })
    await liveNode(h.url, w.wsKey, 'full', ['spawn:cat'], { max: 1, active: 1 })
    expect(await spawn({ target_node: 'full' })).toMatchObject({ status: 503, body: { error: { code: 'handler_unavailable' } } })
    // Offline target: the node advertised the capability before (it registered once), then went away.
    const later = await liveNode(h.url, w.wsKey, 'later', ['spawn:cat'])
    await later.close()
    await waitFor(async () => !(await api(h!.url, 'GET', '/v1/nodes/later', { token: w.wsKey })).body.data.live, 3000, 'later offline')
    const queued = await spawn({ name: 'q-1', target_node: 'later' })
    expect(queued).toMatchObject({ status: 201, body: { data: { status: 'pending', handler_node: 'later' } } })
    const back = await NodeClient.connect(h.url, (await enrol(h.url, w.wsKey, 'later')).token)
    clients.push(back)
    back.send({ type: 'node.register', v: 1, name: 'later', node_id: 'node_later', capabilities: [{ name: 'spawn:cat' }], max_agents: 0, tags: [], version: 'test', resume_cursor: null })
    back.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0 })
    expect(await back.next((f) => f.type === 'action.invoke')).toMatchObject({ invocation_id: queued.body.data.invocation_id, input: { name: 'q-1' } })
    expect((await inv(h.url, w.wsKey, queued.body.data.invocation_id)).status).toBe('dispatched')
  })

  it('idempotency: same key → same invocation (200), different payload → 409, explicit invocation_id too', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await liveNode(h.url, w.wsKey, 'n1', ['spawn:cat'])
    const post = (body: Record<string, unknown>, key?: string) =>
      fetch(`${h!.url}/v1/agents/spawn`, {
        method: 'POST',
        headers: { authorization: `Bearer ${w.aliceToken}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }))
    const a = await post({ name: 'c', cli: 'cat' }, 'k-1')
    const b = await post({ name: 'c', cli: 'cat' }, 'k-1')
    expect(a.status).toBe(201)
    expect(b.status).toBe(200)
    expect(b.body.data.invocation_id).toBe(a.body.data.invocation_id)
    expect((await post({ name: 'other', cli: 'cat' }, 'k-1')).body.error.code).toBe('idempotency_key_reused')
    const c1 = await post({ name: 'd', cli: 'cat', invocation_id: 'mine-1' })
    const c2 = await post({ name: 'd', cli: 'cat', invocation_id: 'mine-1' })
    expect(c2.body.data.invocation_id).toBe(c1.body.data.invocation_id)
    await node.next((f) => f.type === 'action.invoke' && f.invocation_id === c1.body.data.invocation_id)
    await node.registerAgent('probe')
    expect(invokes(node)).toHaveLength(2) // one per distinct invocation, none for the replays
  })

  it('dispatch timeout → rescheduled with backoff 5 s, 10 s (injected clock); handler_unavailable and node loss move it elsewhere; expiry', async () => {
    let clock = T0
    h = await startTestEngine({ now: () => clock, redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    const a = await liveNode(h.url, w.wsKey, 'a', ['spawn:cat'], { load: 0.1 })
    const res = await api(h.url, 'POST', '/v1/agents/spawn', { token: w.wsKey, body: { name: 'slowpoke', cli: 'cat' } })
    const id = res.body.data.invocation_id as string
    await a.next((f) => f.type === 'action.invoke')
    clock += 30_001
    const pending = await waitFor(async () => {
      const r = await inv(h!.url, w.wsKey, id)
      return r.status === 'pending' ? r : undefined
    }, 3000, 'rescheduled after timeout')
    expect(pending).toMatchObject({ error: 'dispatch_timeout', retry_after_at: new Date(clock + 5000).toISOString() })
    // Keep node a heartbeating on the fake clock so it stays live.
    a.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0.1 })
    clock += 5000
    await a.next((f) => f.type === 'action.invoke' && f.invocation_id === id, 3000, 1 + a.frames.findIndex((f) => f.type === 'action.invoke'))
    expect(await inv(h.url, w.wsKey, id)).toMatchObject({ status: 'dispatched', attempts: 2 })
    clock += 30_001
    a.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0.1 })
    const second = await waitFor(async () => {
      const r = await inv(h!.url, w.wsKey, id)
      return r.status === 'pending' ? r : undefined
    }, 3000, 'second reschedule')
    expect(second.retry_after_at).toBe(new Date(clock + 10_000).toISOString())

    // A second node appears; handler_unavailable from a bounces the invocation there at once.
    clock += 10_000
    a.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0.1 })
    await waitFor(() => invokes(a).length === 3 || undefined, 3000, 'third dispatch to a')
    const b = await liveNode(h.url, w.wsKey, 'b', ['spawn:cat'], { load: 0.5 })
    a.send({ type: 'action.result', v: 1, invocation_id: id, error: 'handler_unavailable' })
    expect(await b.next((f) => f.type === 'action.invoke')).toMatchObject({ invocation_id: id })
    expect((await api(h.url, 'GET', '/v1/nodes/a', { token: w.wsKey })).body.data.handlers_live).toBe(false)
    // b's socket drops: with a not dispatchable, the invocation waits as pending.
    await b.close()
    await waitFor(async () => (await inv(h!.url, w.wsKey, id)).status === 'pending', 3000, 'pending after node loss')
    expect((await inv(h.url, w.wsKey, id)).error).toBe('node_lost')
    // Never placed again for 72 h → failed.
    clock += 72 * 3600_000 + 1
    await waitFor(async () => (await inv(h!.url, w.wsKey, id)).status === 'failed', 3000, 'expired')
    expect((await inv(h.url, w.wsKey, id)).error).toBe('never_dispatched_expired')
  })
})

describe('inventory.sync reconciliation of invocations', () => {
  it('after a reconnect: node loss reschedules, register drains, the reported invocation completes, an unreported one on this connection stays open', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const first = await liveNode(h.url, w.wsKey, 'host', ['spawn:cat'])
    const a = await api(h.url, 'POST', '/v1/agents/spawn', { token: w.wsKey, body: { name: 'kept', cli: 'cat' } })
    const b = await api(h.url, 'POST', '/v1/agents/spawn', { token: w.wsKey, body: { name: 'lost', cli: 'cat' } })
    await first.next((f) => f.type === 'action.invoke' && f.invocation_id === b.body.data.invocation_id)
    const kept = await first.registerAgent('kept')
    // The node's socket drops and comes back: node.register, then its inventory.
    first.ws.terminate()
    await waitFor(async () => (await inv(h!.url, w.wsKey, a.body.data.invocation_id)).status !== 'dispatched' || undefined, 3000, 'rescheduled on loss')
    const again = await NodeClient.connect(h.url, (await enrol(h.url, w.wsKey, 'host')).token)
    clients.push(again)
    again.send({ type: 'node.register', v: 1, name: 'host', node_id: 'node_host', capabilities: [{ name: 'spawn:cat' }], max_agents: 0, tags: [], version: 'test', resume_cursor: null })
    again.send({ type: 'node.heartbeat', v: 1, active_agents: 1, handlers_live: true, load: 0 })
    // Both are re-dispatched to the returning node; it reports one as already running.
    await again.next((f) => f.type === 'action.invoke' && f.invocation_id === b.body.data.invocation_id)
    again.send({ type: 'inventory.sync', v: 1, agents: [{ agent_id: kept.data.agent_id, name: 'kept', invocation_id: a.body.data.invocation_id }] })
    const reply = await again.next((f) => f.type === 'reply' && Array.isArray(f.data?.completed_invocations))
    expect(reply.data.completed_invocations).toEqual([a.body.data.invocation_id])
    expect(reply.data.open_invocations).toEqual([b.body.data.invocation_id]) // dispatched on this connection: still running
    expect(await inv(h.url, w.wsKey, a.body.data.invocation_id)).toMatchObject({ status: 'completed', output: { name: 'kept', agent_id: kept.data.agent_id } })
  })
})

describe('node roster liveness', () => {
  it('the sweep marks a silent node offline (and its agents); a heartbeat brings it back; delete unbinds', async () => {
    let clock = T0
    h = await startTestEngine({ now: () => clock, redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)
    await node.registerAgent('worker')
    const roster = (await api(h.url, 'GET', '/v1/nodes', { token: w.wsKey })).body.data[0]
    expect(roster).toMatchObject({ name: w.nodeName, status: 'online', version: 'relay-broker/test', agents: [{ name: 'worker', status: 'active' }] })
    clock += 45_001
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/worker', { token: w.wsKey })).body.data.status === 'offline', 3000, 'agent offline by sweep')
    expect((await api(h.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data).toMatchObject({ status: 'offline', live: false })
    const presence = (await api(h.url, 'GET', '/v1/presence', { token: w.wsKey })).body.data
    expect(presence.agents.find((a: { name: string }) => a.name === 'worker').status).toBe('offline')
    expect(presence.nodes).toEqual([expect.objectContaining({ name: w.nodeName, live: false })])
    node.send({ type: 'node.heartbeat', v: 1, active_agents: 1, handlers_live: true, load: 0.3 })
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data.live, 3000, 'live again')
    expect((await api(h.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data).toMatchObject({ load: 0.3, active_agents: 1 })
    const del = await api(h.url, 'DELETE', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })
    expect(del.body.data).toMatchObject({ deleted: true })
    await waitFor(() => node.closed, 3000, 'socket closed on delete')
    expect((await api(h.url, 'GET', '/v1/agents/worker', { token: w.wsKey })).body.data.node).toBeNull()
  })
})
