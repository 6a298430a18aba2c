import { afterEach, describe, expect, it } from 'vitest'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { api, NodeClient, seedWorld, startTestEngine, upgradeStatus, waitFor, type Harness } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
})

async function connect(url: string, token: string): Promise<NodeClient> {
  const c = await NodeClient.connect(url, token)
  clients.push(c)
  return c
}


const CURSOR = [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }]

async function dm(url: string, token: string, to: string, text: string) {
  const res = await api(url, 'POST', '/v1/dm', { token, body: { to, text } })
  expect(res.status).toBe(201)
  return res.body.data
}

describe('node socket', () => {
  it('auth failures: 401 missing / wrong, token via ?token= works', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    expect(await upgradeStatus(h.url, '/v1/node/ws')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
    expect(await upgradeStatus(h.url, '/v1/node/ws', { authorization: 'Bearer nt_live_nope' })).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } })
    expect(await upgradeStatus(h.url, '/v1/node/ws', { authorization: `Bearer ${w.wsKey}` })).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } })
    const ok = await upgradeStatus(h.url, `/v1/node/ws?token=${w.nodeToken}`)
    expect(ok.status).toBe(101)
  })

  it('token rotation: the old token gets 401 on the socket, the new one connects', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const rotated = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { node_id: w.nodeId, name: w.nodeName } })
    expect(rotated.body.data.id).toBe(w.nodeId)
    expect(rotated.body.data.token).not.toBe(w.nodeToken)
    expect((await upgradeStatus(h.url, '/v1/node/ws', { authorization: `Bearer ${w.nodeToken}` })).status).toBe(401)
    const node = await connect(h.url, rotated.body.data.token)
    const reply = await node.register(w.nodeName, w.nodeId)
    expect(reply.ok).toBe(true)
  })

  it('node.register: reply is the descriptor, node becomes live; mismatched node_id → error frame', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    const reply = await node.register(w.nodeName, w.nodeId, CURSOR)
    expect(reply.id).toMatch(/^req_/)
    expect(reply.data).toMatchObject({ id: w.nodeId, status: 'online', live: true, load: 0 })
    expect(reply.data.accepted_capabilities).toEqual([{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity', accepted: true }])
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data.handlers_live, 3000, 'heartbeat')
    node.send({ type: 'node.register', v: 1, id: 'r2', name: w.nodeName, node_id: 'node_other', capabilities: [], max_agents: 0, tags: [], version: 'x', resume_cursor: null })
    const err = await node.next((f) => f.id === 'r2')
    expect(err).toMatchObject({ type: 'error', v: 1, ok: false, code: 'node_id_mismatch' })
  })

  it('agent.register reply keys: exactly {agent_id, token, name} for a legacy node', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    const reply = await node.registerAgent('bob', 'agent_register_0001')
    expect(reply).toMatchObject({ type: 'reply', v: 1, id: 'agent_register_0001', ok: true })
    expect(Object.keys(reply).sort()).toEqual(['data', 'id', 'ok', 'type', 'v'])
    expect(Object.keys(reply.data).sort()).toEqual(['agent_id', 'name', 'token'])
    expect(reply.data.token).toMatch(/^at_live_/)
    // The minted token works as an agent token; bob auto-joined #general.
    const me = await api(h.url, 'GET', '/v1/agent', { token: reply.data.token })
    expect(me.body.data).toMatchObject({ name: 'bob', node: w.nodeName })
    const members = await api(h.url, 'GET', '/v1/channels/general/members', { token: w.wsKey })
    expect(members.body.data.map((m: { agent_name: string }) => m.agent_name)).toContain('bob')
  })

  it('agent.register reply includes delivery_ack_seq only with the cursor capability', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    const reply = await node.registerAgent('bob')
    expect(Object.keys(reply.data).sort()).toEqual(['agent_id', 'delivery_ack_seq', 'name', 'token'])
    expect(reply.data.delivery_ack_seq).toBe(0)
  })

  it('DM → deliver seq 1 then 2; ack recorded and visible in deliveries', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    const bob = await node.registerAgent('bob')
    const first = await dm(h.url, w.aliceToken, 'bob', 'one')
    const d1 = await node.next((f) => f.type === 'deliver' && f.seq === 1)
    expect(d1).toMatchObject({
      v: 1, agent: 'bob', agent_id: bob.data.agent_id, msg_id: first.message.id, mode: 'wait',
      payload: { type: 'dm.received', data: { text: 'one', agent_name: 'alice', from_name: 'alice', thread_id: null, conversation_id: first.conversation_id } },
    })
    expect(d1.delivery_id).toBe(`del_${first.message.id}_${bob.data.agent_id}`)
    await dm(h.url, w.aliceToken, 'bob', 'two')
    const d2 = await node.next((f) => f.type === 'deliver' && f.seq === 2)
    expect(d2.payload.data.text).toBe('two')
    const delivered = await waitFor(async () => {
      const r = await api(h!.url, 'GET', `/v1/messages/${first.message.id}/deliveries`, { token: w.wsKey })
      return r.body.data[0].status === 'delivered' ? r.body.data[0] : undefined
    })
    expect(delivered.delivered_at).toBeTruthy()
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 1 })
    const acked = await waitFor(async () => {
      const r = await api(h!.url, 'GET', `/v1/messages/${first.message.id}/deliveries`, { token: w.wsKey })
      return r.body.data[0].status === 'acked' ? r.body.data[0] : undefined
    })
    expect(acked).toMatchObject({ agent_name: 'bob', seq: 1, status: 'acked' })
    expect(acked.acked_at).toBeTruthy()
    // A lower ack never moves the cursor back.
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 0 })
    const me = await api(h.url, 'GET', '/v1/agent', { token: bob.data.token })
    expect(me.body.data.pending_deliveries).toBe(1)
  })

  it('channel message fans out to members on the node as message.created', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    await node.registerAgent('bob')
    await api(h.url, 'POST', '/v1/channels/general/join', { token: w.aliceToken })
    await api(h.url, 'POST', '/v1/channels/general/messages', { token: w.aliceToken, body: { text: 'hello all', mode: 'steer' } })
    const d = await node.next((f) => f.type === 'deliver')
    expect(d).toMatchObject({ agent: 'bob', seq: 1, mode: 'steer', payload: { type: 'message.created', data: { channel_name: 'general', text: 'hello all' } } })
  })

  it('cursor-aware: after ack, re-register returns delivery_ack_seq and replays only un-acked mail', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    const first = await node.registerAgent('bob')
    await dm(h.url, w.aliceToken, 'bob', 'm1')
    await node.next((f) => f.type === 'deliver' && f.seq === 1)
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 1 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/bob', { token: w.wsKey })).body.data.pending_deliveries === 0)
    await node.close()
    await dm(h.url, w.aliceToken, 'bob', 'm2')
    await dm(h.url, w.aliceToken, 'bob', 'm3')

    const again = await connect(h.url, w.nodeToken)
    await again.register(w.nodeName, w.nodeId, CURSOR)
    // Nothing for bob until his register reply has been written.
    expect(again.delivers()).toEqual([])
    const reply = await again.registerAgent('bob')
    expect(reply.data).toMatchObject({ agent_id: first.data.agent_id, delivery_ack_seq: 1 })
    const replyIdx = again.frames.indexOf(reply)
    await again.next((f) => f.type === 'deliver' && f.seq === 3)
    const delivers = again.delivers()
    expect(delivers.map((f) => [f.seq, f.payload.data.text])).toEqual([[2, 'm2'], [3, 'm3']])
    expect(again.frames.indexOf(delivers[0])).toBeGreaterThan(replyIdx)
  })

  it('cursor-aware: no mail for an agent that has not registered on this connection', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    await node.registerAgent('bob')
    await node.registerAgent('carol')
    await node.close()
    await dm(h.url, w.aliceToken, 'bob', 'for bob')
    await dm(h.url, w.aliceToken, 'carol', 'for carol')
    const again = await connect(h.url, w.nodeToken)
    await again.register(w.nodeName, w.nodeId, CURSOR)
    await again.registerAgent('bob')
    await again.next((f) => f.type === 'deliver' && f.agent === 'bob')
    // Round-trip a frame to be sure anything queued for carol would have arrived by now.
    const probe = await again.registerAgent('bob', 'probe')
    expect(probe.ok).toBe(true)
    expect(again.delivers().filter((f) => f.agent === 'carol')).toEqual([])
    await again.registerAgent('carol')
    await again.next((f) => f.type === 'deliver' && f.agent === 'carol')
  })

  it('legacy: reconnect replays un-acked mail (queued and delivered) right after node.register', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    await node.registerAgent('bob')
    await dm(h.url, w.aliceToken, 'bob', 'a')
    await dm(h.url, w.aliceToken, 'bob', 'b')
    await node.next((f) => f.type === 'deliver' && f.seq === 2)
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 1 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/bob', { token: w.wsKey })).body.data.pending_deliveries === 1)
    await node.close()
    await dm(h.url, w.aliceToken, 'bob', 'c') // queued while offline
    const again = await connect(h.url, w.nodeToken)
    await again.register(w.nodeName, w.nodeId)
    await again.next((f) => f.type === 'deliver' && f.seq === 3)
    expect(again.delivers().map((f) => [f.seq, f.payload.data.text])).toEqual([[2, 'b'], [3, 'c']])
  })

  it('mail queued while the node is offline is delivered when it registers', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const first = await connect(h.url, w.nodeToken)
    await first.register(w.nodeName, w.nodeId)
    await first.registerAgent('bob')
    await first.close()
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data.status === 'offline')
    const sent = await dm(h.url, w.aliceToken, 'bob', 'while you were out')
    const rows = await api(h.url, 'GET', `/v1/messages/${sent.message.id}/deliveries`, { token: w.wsKey })
    expect(rows.body.data[0].status).toBe('queued')
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    const d = await node.next((f) => f.type === 'deliver')
    expect(d).toMatchObject({ seq: 1, payload: { data: { text: 'while you were out' } } })
  })

  it('invalid frames get an error frame and the socket stays usable', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    node.send('{not json')
    const e1 = await node.next((f) => f.type === 'error')
    expect(e1).toMatchObject({ v: 1, ok: false, code: 'invalid_message' })
    expect(e1.id).toMatch(/^req_/)
    node.send({ type: 'agent.register', v: 1, id: 'bad1', name: 'bob', extra: true })
    expect(await node.next((f) => f.id === 'bad1')).toMatchObject({ type: 'error', code: 'invalid_message' })
    node.send({ type: 'agent.register', v: 2, id: 'bad2', name: 'bob' })
    expect(await node.next((f) => f.id === 'bad2')).toMatchObject({ type: 'error', code: 'invalid_message' })
    node.send({ type: 'no.such.frame', v: 1, id: 'bad3' })
    expect(await node.next((f) => f.id === 'bad3')).toMatchObject({ type: 'error', code: 'invalid_message' })
    const reply = await node.register(w.nodeName, w.nodeId)
    expect(reply.ok).toBe(true)
    expect((await node.registerAgent('bob')).ok).toBe(true)
  })

  it('oversized ws frame is rejected (socket closed with 1009)', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    node.send({ type: 'agent.register', v: 1, id: 'x', name: 'x'.repeat(1024 * 1024 + 1) })
    await waitFor(() => node.closed)
    expect(node.closed?.code).toBe(1009)
  })

  it('agent location conflict, deregister, inventory.sync', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const other = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { node_id: 'node_two', name: 'two' } })
    const a = await connect(h.url, w.nodeToken)
    await a.register(w.nodeName, w.nodeId)
    const bob = await a.registerAgent('bob')
    const b = await connect(h.url, other.body.data.token)
    await b.register('two', 'node_two')
    b.send({ type: 'agent.register', v: 1, id: 'steal', name: 'bob' })
    expect(await b.next((f) => f.id === 'steal')).toMatchObject({ type: 'error', code: 'agent_location_conflict' })
    // Same node re-registering keeps the identity and rotates the token.
    const again = await a.registerAgent('bob')
    expect(again.data.agent_id).toBe(bob.data.agent_id)
    expect(again.data.token).not.toBe(bob.data.token)
    expect((await api(h.url, 'GET', '/v1/agent', { token: bob.data.token })).status).toBe(401)

    const carol = await a.registerAgent('carol')
    const from = a.frames.length
    a.send({ type: 'inventory.sync', v: 1, agents: [{ agent_id: bob.data.agent_id, name: 'bob' }] })
    const inv = await a.next((f) => f.type === 'reply' && 'rebound_agents' in f.data, 3000, from)
    expect(inv.data).toEqual({ rebound_agents: [{ agent_id: bob.data.agent_id, name: 'bob' }], open_invocations: [], completed_invocations: [], rescheduled_invocations: [] })
    expect((await api(h.url, 'GET', '/v1/agents/carol', { token: w.wsKey })).body.data.status).toBe('offline')

    a.send({ type: 'agent.deregister', v: 1, agent_id: carol.data.agent_id })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/carol', { token: w.wsKey })).body.data.node === null)
    // Once bob is released from node a, node two may take him.
    await api(h.url, 'POST', '/v1/agents/release', { token: w.wsKey, body: { name: 'bob' } })
    const taken = await b.registerAgent('bob')
    expect(taken.data.agent_id).toBe(bob.data.agent_id)
  })

  it('liveness: a registered node is not live 45 s after its last heartbeat', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z')
    h = await startTestEngine({ now: () => clock })
    const w = await seedWorld(h.url)
    const node = await connect(h.url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    const get = async () => (await api(h!.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).body.data
    await waitFor(async () => (await get()).handlers_live, 3000, 'heartbeat applied')
    clock += 45_000
    expect(await get()).toMatchObject({ status: 'online', live: true })
    clock += 1
    expect(await get()).toMatchObject({ status: 'offline', live: false })
    node.send({ type: 'node.heartbeat', v: 1, active_agents: 1, handlers_live: true, load: 7 })
    const back = await waitFor(async () => { const d = await get(); return d.live ? d : undefined })
    expect(back).toMatchObject({ load: 1, active_agents: 1 })
  })
})
