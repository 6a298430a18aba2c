/**
 * Human clients on /v1/user/ws: fan-out to every connection, per-user cursor + replay,
 * acks over the socket, delivery.updated / delivery.failed for what the user sent,
 * presence with connection counts, and auth.
 */
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { api, NodeClient, seedWorld, startTestEngine, UserClient, waitFor, type Frame, type Harness, upgradeStatus } from './helpers'

let h: Harness | undefined
const sockets: Array<UserClient | NodeClient> = []
afterEach(async () => {
  await Promise.all([...sockets.splice(0), ...UserClient.opened].map((s) => s.close()))
  await h?.stop()
  h = undefined
})

async function human(url: string, wsKey: string, name: string): Promise<string> {
  const r = await api(url, 'POST', '/v1/agents', { token: wsKey, body: { name, type: 'human' } })
  return r.body.data.token as string
}

const dm = async (url: string, token: string, to: string, text: string) => (await api(url, 'POST', '/v1/dm', { token, body: { to, text } })).body.data

describe('user socket (/v1/user/ws)', () => {
  it('pushes a DM to every open connection with a per-user cursor; an ack acks it; the sender sees delivery.updated', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url) // alice is human
    const danaToken = await human(h.url, w.wsKey, 'dana')
    const tab1 = await UserClient.open(h.url, danaToken)
    const tab2 = await UserClient.open(h.url, danaToken)
    const aliceTab = await UserClient.open(h.url, w.aliceToken)
    const sent = await dm(h.url, w.aliceToken, 'dana', 'hello dana')
    const [m1, m2] = await Promise.all([tab1.next((f) => f.type === 'message'), tab2.next((f) => f.type === 'message')])
    for (const m of [m1, m2]) {
      expect(m).toMatchObject({ cursor: 1, seq: 1, event: 'dm.received', message: { id: sent.message.id, text: 'hello dana', from_name: 'alice' } })
    }
    await aliceTab.next((f) => f.type === 'delivery.updated' && f.status === 'delivered')
    tab1.send({ type: 'ack', up_to_seq: 1 })
    expect(await tab1.next((f) => f.type === 'acked')).toMatchObject({ up_to_seq: 1 })
    expect(await aliceTab.next((f) => f.type === 'delivery.updated' && f.status === 'acked')).toMatchObject({ message_id: sent.message.id, agent_name: 'dana' })
    const rows = (await api(h.url, 'GET', `/v1/messages/${sent.message.id}/deliveries`, { token: w.wsKey })).body.data
    expect(rows[0]).toMatchObject({ status: 'acked', agent_name: 'dana' })
    const presence = (await api(h.url, 'GET', '/v1/presence', { token: w.wsKey })).body.data
    expect((await api(h.url, 'GET', '/v1/agents/presence', { token: w.wsKey })).body.data.find((a: { agent_name: string }) => a.agent_name === 'dana'))
      .toMatchObject({ status: 'online', type: 'human', connections: 2 })
    expect(presence.users).toEqual([
      expect.objectContaining({ name: 'alice', connections: 1 }),
      expect.objectContaining({ name: 'dana', connections: 2 }),
    ])
    expect(presence.agents.find((a: { name: string }) => a.name === 'dana').status).toBe('online')
  })

  it('replays from ?cursor=N what a client missed, in seq order, then goes live; default cursor = ack cursor', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const danaToken = await human(h.url, w.wsKey, 'dana')
    for (const t of ['one', 'two', 'three']) await dm(h.url, w.aliceToken, 'dana', t)
    const late = await UserClient.open(h.url, danaToken, '&cursor=1')
    await dm(h.url, w.aliceToken, 'dana', 'four')
    await late.next((f) => f.type === 'message' && f.seq === 4)
    expect(late.messages().map((f) => [f.seq, f.message.text])).toEqual([[2, 'two'], [3, 'three'], [4, 'four']])
    late.send({ type: 'ack', up_to_seq: 2 })
    await late.next((f) => f.type === 'acked')
    const fresh = await UserClient.open(h.url, danaToken)
    expect(fresh.frames[0]).toMatchObject({ type: 'hello', user: 'dana', cursor: 2, high_water: 4 })
    await fresh.next((f) => f.type === 'message' && f.seq === 4)
    expect(fresh.messages().map((f) => f.seq)).toEqual([3, 4])
  })

  it('channel messages reach members only; bad frames get an error and the socket stays', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const danaToken = await human(h.url, w.wsKey, 'dana')
    const erinToken = await human(h.url, w.wsKey, 'erin')
    await api(h.url, 'POST', '/v1/channels', { token: w.aliceToken, body: { name: 'ops' } })
    await api(h.url, 'POST', '/v1/channels/ops/join', { token: danaToken })
    const dana = await UserClient.open(h.url, danaToken)
    const erin = await UserClient.open(h.url, erinToken)
    await api(h.url, 'POST', '/v1/channels/ops/messages', { token: w.aliceToken, body: { text: 'standup' } })
    expect(await dana.next((f) => f.type === 'message')).toMatchObject({ event: 'message.created', message: { channel_name: 'ops', text: 'standup' } })
    dana.send('{nope')
    expect(await dana.next((f) => f.type === 'error')).toMatchObject({ code: 'invalid_message' })
    dana.send({ type: 'ack', up_to_seq: -1 })
    dana.send({ type: 'subscribe' })
    await dana.next((f) => f.type === 'error' && /unknown frame/.test(f.message))
    dana.send({ type: 'ping' })
    await dana.next((f) => f.type === 'pong')
    // erin (not a member) got nothing but her hello: a DM to her proves the socket works.
    await dm(h.url, w.aliceToken, 'erin', 'just you')
    await erin.next((f) => f.type === 'message')
    expect(erin.messages().map((f) => f.message.text)).toEqual(['just you'])
  })

  it('auth: 401 missing/invalid, 403 for a non-human agent or the workspace key, 400 bad cursor; revoke closes the socket', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const bot = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bot' } })
    expect(await upgradeStatus(h.url, '/v1/user/ws')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
    expect(await upgradeStatus(h.url, '/v1/user/ws?token=at_live_nope')).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } })
    expect(await upgradeStatus(h.url, `/v1/user/ws?token=${bot.body.data.token}`)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } })
    expect(await upgradeStatus(h.url, '/v1/user/ws', { authorization: `Bearer ${w.wsKey}` })).toMatchObject({ status: 403 })
    expect(await upgradeStatus(h.url, `/v1/user/ws?token=${w.aliceToken}&cursor=-3`)).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } })
    expect((await upgradeStatus(h.url, '/v1/user/ws', { authorization: `Bearer ${w.aliceToken}` })).status).toBe(101)
    const tab = await UserClient.open(h.url, w.aliceToken)
    const revoked = await api(h.url, 'POST', '/v1/agents/alice/revoke', { token: w.wsKey })
    expect(revoked.body.data).toMatchObject({ name: 'alice', revoked: true })
    await waitFor(() => tab.closed, 3000, 'socket closed on revoke')
    expect(tab.closed).toMatchObject({ code: 4001, reason: 'token_revoked' })
    expect((await api(h.url, 'GET', '/v1/agent', { token: w.aliceToken })).status).toBe(401)
  })
})

describe('dead letters notify the sender', () => {
  it('depth cap on a channel fan-out: seq-0 delivery.failed to the node-hosted sender, dead_lettered over REST', async () => {
    h = await startTestEngine({ maxInFlightPerAgent: 1 })
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    sockets.push(node)
    await node.register(w.nodeName, w.nodeId)
    const sender = await node.registerAgent('sender')
    await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } }) // offline: mail stays queued
    await dm(h.url, w.aliceToken, 'bob', 'fills the mailbox')
    const bobToken = (await api(h.url, 'POST', '/v1/agents/bob/rotate-token', { token: w.wsKey })).body.data.token
    await api(h.url, 'POST', '/v1/channels/general/join', { token: bobToken })
    const post = await api(h.url, 'POST', '/v1/channels/general/messages', { token: sender.data.token, body: { text: 'to everyone' } })
    expect(post.body.data.rejected_recipients).toEqual(['bob'])
    const notice = await node.next((f) => f.type === 'deliver' && f.payload?.type === 'delivery.failed')
    expect(notice).toMatchObject({
      seq: 0, agent: 'sender',
      payload: { data: { message_id: post.body.data.id, recipient: 'bob', reason: 'depth_cap', retryable: false } },
    })
    const rows = (await api(h.url, 'GET', `/v1/messages/${post.body.data.id}/deliveries`, { token: w.wsKey })).body.data
    expect(rows.find((r: { agent_name: string }) => r.agent_name === 'bob')).toMatchObject({ status: 'dead_lettered', reason: 'depth_cap' })
  })

  it('TTL expiry: the human sender gets delivery.failed ttl_expired and delivery.updated dead_lettered', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z')
    h = await startTestEngine({ now: () => clock, mailboxTtlMs: 60_000, redriveIntervalMs: 20 })
    const w = await seedWorld(h.url)
    await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    const aliceTab = await UserClient.open(h.url, w.aliceToken)
    const sent = await dm(h.url, w.aliceToken, 'bob', 'will expire')
    clock += 60_001
    expect(await aliceTab.next((f) => f.type === 'delivery.failed')).toMatchObject({
      message_id: sent.message.id, recipient: 'bob', reason: 'ttl_expired', retryable: false,
    })
    expect(await aliceTab.next((f) => f.type === 'delivery.updated')).toMatchObject({ message_id: sent.message.id, status: 'dead_lettered' })
    const rows = (await api(h.url, 'GET', `/v1/messages/${sent.message.id}/deliveries`, { token: w.wsKey })).body.data
    expect(rows[0]).toMatchObject({ status: 'dead_lettered', reason: 'ttl_expired' })
  })
})
