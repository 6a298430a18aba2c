import { rmSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { api, postOversized, seedWorld, startTestEngine, type Harness } from './helpers'

let h: Harness | undefined
afterEach(async () => {
  await h?.stop()
  h = undefined
})

describe('REST: workspaces, nodes, agents', () => {
  it('health, workspace create seeds #general, idempotent only with the key', async () => {
    h = await startTestEngine()
    expect((await api(h.url, 'GET', '/health')).body).toEqual({ ok: true, data: { status: 'ok', instance: expect.stringMatching(/^eng_/), leader: true } })
    const ws = await api(h.url, 'POST', '/v1/workspaces', { body: { name: 'acme' } })
    expect(ws.status).toBe(201)
    expect(ws.body.data.workspace_id).toMatch(/^ws_/)
    expect(ws.body.data.api_key).toMatch(/^rk_live_/)
    const key = ws.body.data.api_key
    const channels = await api(h.url, 'GET', '/v1/channels', { token: key })
    expect(channels.body.data.map((c: { name: string }) => c.name)).toEqual(['general'])
    const again = await api(h.url, 'POST', '/v1/workspaces', { token: key, body: { name: 'acme' } })
    expect(again.body.data.workspace_id).toBe(ws.body.data.workspace_id)
    const anon = await api(h.url, 'POST', '/v1/workspaces', { body: { name: 'acme' } })
    expect(anon.body.data.workspace_id).not.toBe(ws.body.data.workspace_id)
  })

  it('node mint returns every field the broker needs, load is a number', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const res = await api(h.url, 'POST', '/v1/nodes', {
      token: w.wsKey,
      body: { node_id: 'node_abc', name: 'devbox', kind: 'ws', role: 'broker', version: 'relay-broker/9.1.6' },
    })
    expect(res.status).toBe(201)
    const d = res.body.data
    for (const k of ['id', 'name', 'kind', 'role', 'capabilities', 'tags', 'version', 'status', 'live', 'handlers_live', 'load', 'active_agents', 'max_agents', 'created_at', 'token', 'workspace_id']) {
      expect(d, k).toHaveProperty(k)
    }
    expect(typeof d.load).toBe('number')
    expect(d.id).toBe('node_abc')
    expect(d.token).toMatch(/^nt_live_/)
    expect(d.status).toBe('offline')
    expect(d.live).toBe(false)
    const derived = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { name: 'no-id' } })
    expect(derived.body.data.id).toMatch(/^node_[0-9a-f]{32}$/)
    const listed = await api(h.url, 'GET', '/v1/nodes', { token: w.wsKey })
    expect(listed.body.data.map((n: { name: string }) => n.name)).toEqual(['builder-1', 'devbox', 'no-id'])
    expect((await api(h.url, 'GET', '/v1/nodes/devbox', { token: w.wsKey })).body.data.id).toBe('node_abc')
    expect((await api(h.url, 'GET', '/v1/nodes/nope', { token: w.wsKey })).body.error?.code).toBe('node_not_found')
  })

  it('node enrolment conflicts and name validation', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const nameClash = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { node_id: 'node_other', name: w.nodeName } })
    expect(nameClash.status).toBe(409)
    expect(nameClash.body.error?.code).toBe('node_name_conflict')
    const other = await seedWorld(h.url, 'elsewhere')
    const idClash = await api(h.url, 'POST', '/v1/nodes', { token: other.wsKey, body: { node_id: w.nodeId, name: 'fresh' } })
    expect(idClash.status).toBe(409)
    expect(idClash.body.error?.code).toBe('node_id_conflict')
    for (const name of ['', '  ', '#chan']) {
      const bad = await api(h.url, 'POST', '/v1/nodes', { token: w.wsKey, body: { name } })
      expect(bad.status).toBe(400)
      expect(bad.body.error?.code).toBe('invalid_node_name')
    }
    const del = await api(h.url, 'DELETE', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })
    expect(del.body.data.deleted).toBe(true)
    expect((await api(h.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })).status).toBe(404)
  })

  it('agents: create, conflict, rotate, who-am-i, release record', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const created = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    expect(created.status).toBe(201)
    expect(created.body.data).toMatchObject({ name: 'bob', status: 'active', type: 'agent', workspace_id: w.workspaceId })
    expect(created.body.data.token).toMatch(/^at_live_/)
    const dup = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    expect(dup.status).toBe(409)
    expect(dup.body.error?.code).toBe('agent_already_exists')
    const rotated = await api(h.url, 'POST', '/v1/agents/bob/rotate-token', { token: w.wsKey })
    expect(rotated.body.data.id).toBe(created.body.data.id)
    expect((await api(h.url, 'GET', '/v1/agent', { token: created.body.data.token })).body.error?.code).toBe('invalid_token')
    const me = await api(h.url, 'GET', '/v1/agent', { token: rotated.body.data.token })
    expect(me.body.data).toMatchObject({ name: 'bob', pending_deliveries: 0 })
    const byAgent = await api(h.url, 'GET', '/v1/agents/bob', { token: w.aliceToken })
    expect(byAgent.body.data.id).toBe(created.body.data.id)
    const rel = await api(h.url, 'POST', '/v1/agents/release', { token: w.wsKey, body: { name: 'bob' } })
    expect(Object.keys(rel.body.data).sort()).toEqual(
      ['action_name', 'created_at', 'dispatched_node_id', 'handler_agent_id', 'handler_node_id', 'input', 'invocation_id', 'status'],
    )
    expect(rel.body.data).toMatchObject({ action_name: 'release', status: 'completed', handler_agent_id: created.body.data.id })
    expect((await api(h.url, 'GET', '/v1/agents/bob', { token: w.wsKey })).body.data.status).toBe('offline')
  })

  it('envelopes: malformed JSON, zod failure, unknown route, tokens, payload too large', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const badJson = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, raw: '{"name":' })
    expect(badJson).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_json' } } })
    const zod = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 42 } })
    expect(zod.status).toBe(400)
    expect(zod.body.error?.code).toBe('invalid_request')
    expect(zod.body.error?.message).toContain('name')
    const missing = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { text: 'x' } })
    expect(missing.body.error?.message).toContain('to')
    expect(await api(h.url, 'GET', '/v1/nope', { token: w.wsKey })).toMatchObject({ status: 404, body: { ok: false, error: { code: 'not_found' } } })
    expect(await api(h.url, 'GET', '/v1/agents')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } })
    expect(await api(h.url, 'GET', '/v1/agents', { token: 'rk_live_bogus' })).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } })
    // Wrong kind of token: an agent may not create agents; a node token is socket-only.
    expect(await api(h.url, 'POST', '/v1/agents', { token: w.aliceToken, body: { name: 'x' } })).toMatchObject({ status: 403 })
    expect(await api(h.url, 'GET', '/v1/agents', { token: w.nodeToken })).toMatchObject({ status: 403 })
    const big = await postOversized(h.url, '/v1/agents', w.wsKey, JSON.stringify({ name: 'x', metadata: { pad: 'x'.repeat(1024 * 1024 + 10) } }))
    expect(big).toMatchObject({ status: 413, body: { ok: false, error: { code: 'payload_too_large' } } })
    const plain = await fetch(`${h.url}/v1/node/ws`)
    expect(plain.status).toBe(426)
  })

  it('cross-workspace isolation', async () => {
    h = await startTestEngine()
    const a = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: a.wsKey, body: { name: 'bob' } })
    const dm = await api(h.url, 'POST', '/v1/dm', { token: a.aliceToken, body: { to: 'bob', text: 'secret' } })
    const msgId = dm.body.data.message.id
    const b = await seedWorld(h.url, 'other-node')
    // B's key/agents see only B's world.
    expect((await api(h.url, 'GET', '/v1/agents/bob', { token: b.wsKey })).status).toBe(404)
    expect((await api(h.url, 'GET', '/v1/agents', { token: b.wsKey })).body.data.map((x: { name: string }) => x.name)).toEqual(['alice'])
    expect((await api(h.url, 'GET', `/v1/messages/${msgId}`, { token: b.wsKey })).status).toBe(404)
    expect((await api(h.url, 'GET', `/v1/messages/${msgId}/deliveries`, { token: b.aliceToken })).status).toBe(404)
    expect((await api(h.url, 'GET', `/v1/dm/${dm.body.data.conversation_id}/messages`, { token: b.aliceToken })).status).toBe(404)
    const cross = await api(h.url, 'POST', '/v1/dm', { token: b.aliceToken, body: { to: 'bob', text: 'hi' } })
    expect(cross).toMatchObject({ status: 404, body: { error: { code: 'agent_not_found' } } })
    expect((await api(h.url, 'GET', `/v1/nodes/${a.nodeName}`, { token: b.wsKey })).status).toBe(404)
    expect((await api(h.url, 'POST', '/v1/agents/release', { token: b.wsKey, body: { name: 'bob' } })).status).toBe(404)
    expect((await api(h.url, 'GET', '/v1/agents/bob', { token: a.wsKey })).body.data.id).toBe(bob.body.data.id)
  })

  it('DM to self → 400; conversations and inbox', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const bob = await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    expect((await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'alice', text: 'me' } })).status).toBe(400)
    await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'one' } })
    const second = await api(h.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'two' } })
    const convs = await api(h.url, 'GET', '/v1/dm/conversations', { token: bob.body.data.token })
    expect(convs.body.data).toHaveLength(1)
    const msgs = await api(h.url, 'GET', `/v1/dm/${second.body.data.conversation_id}/messages`, { token: bob.body.data.token })
    expect(msgs.body.data.map((m: { text: string }) => m.text)).toEqual(['one', 'two'])
    const inbox = await api(h.url, 'GET', '/v1/inbox', { token: bob.body.data.token })
    expect(inbox.body.data.unread_dms).toEqual([
      expect.objectContaining({ conversation_id: second.body.data.conversation_id, from: 'alice', unread_count: 2 }),
    ])
    expect(inbox.body.data.mentions).toEqual([])
  })

  it('channels: create, join, post fan-out, members, messages, inbox', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const bob = (await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })).body.data
    const created = await api(h.url, 'POST', '/v1/channels', { token: w.aliceToken, body: { name: 'eng', topic: 'Engineering' } })
    expect(created.status).toBe(201)
    expect((await api(h.url, 'POST', '/v1/channels', { token: w.wsKey, body: { name: 'eng' } })).body.error?.code).toBe('channel_already_exists')
    expect((await api(h.url, 'POST', '/v1/channels/eng/join', { token: bob.token })).body.data.joined).toBe(true)
    const members = await api(h.url, 'GET', '/v1/channels/eng/members', { token: w.wsKey })
    expect(members.body.data.map((m: { agent_name: string }) => m.agent_name)).toEqual(['alice', 'bob'])
    const post = await api(h.url, 'POST', '/v1/channels/eng/messages', { token: w.aliceToken, body: { text: 'ship it' } })
    expect(post.status).toBe(201)
    const deliveries = await api(h.url, 'GET', `/v1/messages/${post.body.data.id}/deliveries`, { token: w.wsKey })
    expect(deliveries.body.data).toEqual([expect.objectContaining({ agent_name: 'bob', seq: 1, status: 'queued' })])
    const list = await api(h.url, 'GET', '/v1/channels/eng/messages?limit=10', { token: bob.token })
    expect(list.body.data.map((m: { text: string }) => m.text)).toEqual(['ship it'])
    const inbox = await api(h.url, 'GET', '/v1/inbox', { token: bob.token })
    expect(inbox.body.data.unread_channels).toEqual([{ channel_name: 'eng', unread_count: 1 }])
    expect((await api(h.url, 'POST', '/v1/channels/eng/leave', { token: bob.token })).body.data.left).toBe(true)
    expect((await api(h.url, 'POST', '/v1/channels/nope/join', { token: bob.token })).body.error?.code).toBe('channel_not_found')
  })

  it('data persists across an engine restart on the same data dir', async () => {
    const first = await startTestEngine()
    const w = await seedWorld(first.url)
    await api(first.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    const dm = await api(first.url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text: 'remember me' } })
    await first.engine.close()
    h = await startTestEngine({}, first.dataDir)
    const msg = await api(h.url, 'GET', `/v1/messages/${dm.body.data.message.id}`, { token: w.wsKey })
    expect(msg.body.data.text).toBe('remember me')
    const bob = await api(h.url, 'GET', '/v1/agents/bob', { token: w.aliceToken })
    expect(bob.body.data.pending_deliveries).toBe(1)
    const node = await api(h.url, 'GET', `/v1/nodes/${w.nodeName}`, { token: w.wsKey })
    expect(node.body.data).toMatchObject({ status: 'offline', live: false })
    await h.stop()
    h = undefined
    rmSync(first.dataDir, { recursive: true, force: true })
  })
})
