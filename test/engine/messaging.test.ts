/**
 * Messaging REST beyond the basics (engine.md §2.4–§2.5): credentials (rotate, revoke,
 * recover over REST and as an `agent.recover` frame), threads and group DMs as they
 * reach a node, read state acking the delivery, the agent-facing delivery queue, search
 * scoping, channel get/leave.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { api, NodeClient, seedWorld, startTestEngine, type Harness } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
})

async function node(url: string, token: string, name: string, id: string, cursor = false): Promise<NodeClient> {
  const c = await NodeClient.connect(url, token)
  clients.push(c)
  await c.register(name, id, cursor ? [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }] : [])
  return c
}

describe('credentials', () => {
  it('rotate and revoke kill the old token; recover needs the right id; agent.recover only from the origin node', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    const rotated = await api(h.url, 'POST', '/v1/agents/bob/rotate-token', { token: w.wsKey })
    expect((await api(h.url, 'GET', '/v1/agent', { token: bob.body.data.token })).status).toBe(401)
    expect((await api(h.url, 'GET', '/v1/agent', { token: rotated.body.data.token })).status).toBe(200)
    await api(h.url, 'POST', '/v1/agents/bob/revoke', { token: w.wsKey })
    expect((await api(h.url, 'GET', '/v1/agent', { token: rotated.body.data.token })).body.error?.code).toBe('invalid_token')
    expect((await api(h.url, 'POST', '/v1/agents/bob/revoke', { token: w.aliceToken })).status).toBe(403) // agents cannot revoke
    const wrong = await api(h.url, 'POST', '/v1/agents/bob/recover', { token: w.wsKey, body: { expected_agent_id: 'agt_other' } })
    expect(wrong).toMatchObject({ status: 409, body: { error: { code: 'agent_identity_mismatch' } } })
    const recovered = await api(h.url, 'POST', '/v1/agents/bob/recover', { token: w.wsKey, body: { expected_agent_id: bob.body.data.id } })
    expect(recovered.body.data).toMatchObject({ id: bob.body.data.id, name: 'bob' })
    expect((await api(h.url, 'GET', '/v1/agent', { token: recovered.body.data.token })).body.data.name).toBe('bob')

    // agent.recover frame: identity created on node A is reclaimable on A, not on B.
    const a = await node(h.url, w.nodeToken, w.nodeName, w.nodeId, true)
    const worker = await a.registerAgent('worker')
    const other = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { node_id: 'node_b', name: 'node-b' } })
    const b = await node(h.url, other.body.data.token, 'node-b', 'node_b')
    b.send({ type: 'agent.recover', v: 1, id: 'steal', name: 'worker', expected_agent_id: worker.data.agent_id })
    expect(await b.next((f) => f.id === 'steal')).toMatchObject({ type: 'error', code: 'agent_recovery_not_authorized' })
    a.send({ type: 'agent.recover', v: 1, id: 'mine', name: 'worker', expected_agent_id: worker.data.agent_id })
    const mine = await a.next((f) => f.id === 'mine')
    expect(mine).toMatchObject({ type: 'reply', ok: true, data: { agent_id: worker.data.agent_id, name: 'worker', delivery_ack_seq: 0 } })
    expect(Object.keys(mine.data).sort()).toEqual(['agent_id', 'delivery_ack_seq', 'name', 'token'])
    expect((await api(h.url, 'GET', '/v1/agent', { token: worker.data.token })).status).toBe(401)
    expect((await api(h.url, 'GET', '/v1/agent', { token: mine.data.token })).status).toBe(200)
  })
})

describe('threads, group DMs, read state, delivery queue', () => {
  it('thread replies and group DMs reach node-hosted members with their payload types', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const n = await node(h.url, w.nodeToken, w.nodeName, w.nodeId)
    const carol = await n.registerAgent('carol')
    await n.registerAgent('dave')
    await api(h.url, 'POST', '/v1/channels', { token: w.aliceToken, body: { name: 'eng' } })
    await api(h.url, 'POST', '/v1/channels/eng/join', { token: carol.data.token })
    const root = await api(h.url, 'POST', '/v1/channels/eng/messages', { token: w.aliceToken, body: { text: 'root post' } })
    await n.next((f) => f.type === 'deliver' && f.payload.data.text === 'root post')
    const reply = await api(h.url, 'POST', `/v1/messages/${root.body.data.id}/replies`, { token: w.aliceToken, body: { text: 'in thread' } })
    expect(reply.body.data).toMatchObject({ thread_id: root.body.data.id, channel_name: 'eng' })
    expect(await n.next((f) => f.type === 'deliver' && f.payload.data.text === 'in thread')).toMatchObject({
      agent: 'carol', seq: 2, payload: { type: 'thread.reply', data: { thread_id: root.body.data.id, channel_name: 'eng' } },
    })
    const nested = await api(h.url, 'POST', `/v1/messages/${reply.body.data.id}/replies`, { token: w.aliceToken, body: { text: 'x' } })
    expect(nested.status).toBe(400)
    const thread = await api(h.url, 'GET', `/v1/messages/${root.body.data.id}/replies`, { token: w.wsKey })
    expect(thread.body.data.parent.reply_count).toBe(1)
    expect(thread.body.data.replies.map((m: { text: string }) => m.text)).toEqual(['in thread'])

    const group = await api(h.url, 'POST', '/v1/dm/group', { token: w.aliceToken, body: { participants: ['carol', 'dave'], name: 'trio' } })
    expect(group.body.data.participants.map((p: { agent_name: string }) => p.agent_name).sort()).toEqual(['alice', 'carol', 'dave'])
    await api(h.url, 'POST', `/v1/dm/${group.body.data.id}/messages`, { token: w.aliceToken, body: { text: 'group hello' } })
    const got = await Promise.all(['carol', 'dave'].map((a) => n.next((f) => f.type === 'deliver' && f.agent === a && f.payload.data.text === 'group hello')))
    for (const f of got) expect(f.payload).toMatchObject({ type: 'group_dm.received', data: { conversation_id: group.body.data.id } })
    // Only participants read a group's messages; others get 404/403.
    const eve = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'eve' } })
    expect((await api(h.url, 'GET', `/v1/dm/${group.body.data.id}/messages`, { token: eve.body.data.token })).status).toBe(403)
    await api(h.url, 'POST', `/v1/dm/${group.body.data.id}/participants`, { token: w.aliceToken, body: { agent_name: 'eve' } })
    expect((await api(h.url, 'GET', `/v1/dm/${group.body.data.id}/messages`, { token: eve.body.data.token })).status).toBe(200)
    await api(h.url, 'DELETE', `/v1/dm/${group.body.data.id}/participants/eve`, { token: w.aliceToken })
    expect((await api(h.url, 'GET', `/v1/dm/${group.body.data.id}/messages`, { token: eve.body.data.token })).status).toBe(403)
  })

  it('read acks the reader\'s delivery (cursor unchanged); /deliveries ack, fail, defer; inbox; search scoping', async () => {
    h = await startTestEngine({ redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    const bt = bob.body.data.token as string
    const sent: string[] = []
    for (const t of ['first secret', 'second', 'third', 'fourth']) {
      sent.push((await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: t } })).body.data.message.id)
    }
    const read = await api(h.url, 'POST', `/v1/messages/${sent[1]}/read`, { token: bt })
    expect(read.body.data).toMatchObject({ delivery_acked: true })
    const rows = async (id: string) => (await api(h!.url, 'GET', `/v1/messages/${id}/deliveries`, { token: w.wsKey })).body.data[0]
    expect(await rows(sent[1]!)).toMatchObject({ status: 'acked' })
    expect((await api(h.url, 'GET', '/v1/agent', { token: bt })).body.data.delivery_ack_seq).toBe(0)
    expect((await api(h.url, 'GET', `/v1/messages/${sent[1]}/readers`, { token: w.aliceToken })).body.data.map((r: { agent_name: string }) => r.agent_name)).toEqual(['bob'])

    const queue = (await api(h.url, 'GET', '/v1/deliveries', { token: bt })).body.data
    expect(queue.map((d: { seq: number }) => d.seq)).toEqual([1, 3, 4])
    expect(queue[0].message.text).toBe('first secret')
    const ack = await api(h.url, 'POST', `/v1/deliveries/${queue[0].id}/ack`, { token: bt })
    expect(ack.body.data.status).toBe('acked')
    const fail = await api(h.url, 'POST', `/v1/deliveries/${queue[1].id}/fail`, { token: bt, body: { reason: 'tool crashed' } })
    expect(fail.body.data).toMatchObject({ status: 'failed', reason: 'tool crashed' })
    expect((await api(h.url, 'POST', `/v1/deliveries/${queue[0].id}/fail`, { token: bt, body: {} })).body.data.status).toBe('acked') // never resurrects
    const defer = await api(h.url, 'POST', `/v1/deliveries/${queue[1].id}/defer`, { token: bt })
    expect(defer.body.data.status).toBe('queued')
    expect((await api(h.url, 'POST', `/v1/deliveries/${queue[1].id}/ack`, { token: w.aliceToken })).status).toBe(404) // not alice's
    const inbox = (await api(h.url, 'GET', '/v1/inbox', { token: bt })).body.data
    expect(inbox.unread_dms).toEqual([expect.objectContaining({ from: 'alice', unread_count: 2 })])

    // Search: DMs only for their participants; the workspace key sees everything.
    expect((await api(h.url, 'GET', '/v1/search?q=secret', { token: bt })).body.data.map((m: { text: string }) => m.text)).toEqual(['first secret'])
    const eve = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'eve' } })
    expect((await api(h.url, 'GET', '/v1/search?q=secret', { token: eve.body.data.token })).body.data).toEqual([])
    expect((await api(h.url, 'GET', '/v1/search?q=secret&from=alice', { token: w.wsKey })).body.data).toHaveLength(1)
    expect((await api(h.url, 'GET', '/v1/search?q=secret&from=bob', { token: w.wsKey })).body.data).toHaveLength(0)
    expect((await api(h.url, 'GET', '/v1/messages/' + sent[0], { token: eve.body.data.token })).status).toBe(404)
  })

  it('channels: get, leave, members; posting with an Idempotency-Key writes once', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    await api(h.url, 'POST', '/v1/channels', { token: w.aliceToken, body: { name: '#ops', topic: 'ops' } })
    await api(h.url, 'POST', '/v1/channels/ops/join', { token: bob.body.data.token })
    expect((await api(h.url, 'GET', '/v1/channels/ops', { token: w.wsKey })).body.data).toMatchObject({ name: 'ops', topic: 'ops', member_count: 2 })
    const post = () => fetch(`${h!.url}/v1/channels/ops/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${w.aliceToken}`, 'content-type': 'application/json', 'idempotency-key': 'once' },
      body: JSON.stringify({ text: 'exactly once' }),
    }).then((r) => r.json() as Promise<any>)
    const [p1, p2] = [await post(), await post()]
    expect(p2.data.id).toBe(p1.data.id)
    expect(p2.data.replayed).toBe(true)
    expect((await api(h.url, 'GET', '/v1/channels/ops/messages', { token: w.wsKey })).body.data).toHaveLength(1)
    expect((await api(h.url, 'POST', '/v1/channels/ops/leave', { token: bob.body.data.token })).body.data.left).toBe(true)
    expect((await api(h.url, 'GET', '/v1/channels/ops/members', { token: w.wsKey })).body.data.map((m: { agent_name: string }) => m.agent_name)).toEqual(['alice'])
  })
})
