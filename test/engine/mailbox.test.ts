import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { api, NodeClient, seedWorld, startTestEngine, waitFor, type Harness } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
})

describe('mailbox', () => {
  it('mailbox_full at the cap writes nothing; an ack frees room', async () => {
    h = await startTestEngine({ maxInFlightPerAgent: 2 })
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)
    const bob = await node.registerAgent('bob')
    const one = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: '1' } })
    await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: '2' } })
    const full = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: '3' } })
    expect(full).toMatchObject({ status: 429, body: { ok: false, error: { code: 'mailbox_full' } } })
    const msgs = await api(h.url, 'GET', `/v1/dm/${one.body.data.conversation_id}/messages`, { token: w.aliceToken })
    expect(msgs.body.data.map((m: { text: string }) => m.text)).toEqual(['1', '2'])
    await node.next((f) => f.type === 'deliver' && f.seq === 2)
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 2 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agent', { token: bob.data.token })).body.data.pending_deliveries === 0)
    const after = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: '4' } })
    expect(after.status).toBe(201)
    // The rejected post consumed no seq: the next one is 3.
    expect(after.body.data.delivery.seq).toBe(3)
    await node.next((f) => f.type === 'deliver' && f.seq === 3)
  })

  it('a delivery written but never acked is sent again after 30 s, and not once acked', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z')
    h = await startTestEngine({ now: () => clock, redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)
    await node.registerAgent('bob')
    await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'one' } })
    await node.next((f) => f.type === 'deliver' && f.seq === 1)
    // The broker could not type it, so it withheld the ack: after 30 s it comes again.
    clock += 31_000
    await waitFor(() => node.delivers().filter((f) => f.seq === 1).length === 2)
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 1 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/bob', { token: w.wsKey })).body.data.pending_deliveries === 0)
    clock += 31_000
    await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'two' } })
    await node.next((f) => f.type === 'deliver' && f.seq === 2)
    expect(node.delivers().filter((f) => f.seq === 1)).toHaveLength(2)
  })

  it('TTL: unacked mail past expires_at is dead-lettered by the sweep and never delivered', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z')
    h = await startTestEngine({ now: () => clock, mailboxTtlMs: 60_000, redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    const sent = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'stale' } })
    const path = `/v1/messages/${sent.body.data.message.id}/deliveries`
    const queued = (await api(h.url, 'GET', path, { token: w.wsKey })).body.data[0]
    expect(queued).toMatchObject({ status: 'queued', expires_at: '2026-01-01T00:01:00.000Z' })
    clock += 60_001
    const dead = await waitFor(async () => {
      const row = (await api(h!.url, 'GET', path, { token: w.wsKey })).body.data[0]
      return row.status === 'dead_lettered' ? row : undefined
    })
    expect(dead.dead_lettered_at).toBe(new Date(clock).toISOString())
    // Binding bob to a node now replays nothing: the row is dead.
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)
    await node.registerAgent('bob')
    await node.registerAgent('bob', 'probe') // round trip after any replay would have been written
    expect(node.delivers()).toEqual([])
  })

  it('HTTP bind (broker fallback) routes the queued backlog to the node', async () => {
    h = await startTestEngine({ redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'hello' } })
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)
    // HTTP bind (the broker's fallback path) routes the backlog to the node.
    const bind = await api(h.url, 'POST', `/v1/nodes/${w.nodeName}/agents`, { token: w.wsKey, body: { agent_name: 'bob' } })
    expect(bind.body.data).toMatchObject({ agent_id: bob.body.data.id, node_id: w.nodeId })
    const d = await node.next((f) => f.type === 'deliver')
    expect(d).toMatchObject({ agent: 'bob', seq: 1 })
  })

  it('seq keeps counting across an engine restart (never reused)', async () => {
    const first = await startTestEngine()
    const w = await seedWorld(first.url)
    await api(first.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    await api(first.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'a' } })
    await first.engine.close()
    h = await startTestEngine({}, first.dataDir)
    const second = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'b' } })
    expect(second.body.data.delivery.seq).toBe(2)
    await h.stop()
    h = undefined
    rmSync(first.dataDir, { recursive: true, force: true })
  })
})
