/**
 * Workspace isolation, table-driven over EVERY REST route the engine serves
 * (`engine.routes`, read from the Hono app): each is called with workspace B's key
 * and with a B agent token, aimed at workspace A's resources (A's names and ids in
 * the path, the query and the body). No answer may contain one of A's ids, no call
 * naming an A resource in its path may succeed, and A's state must be unchanged
 * afterwards. A new route is exercised automatically; a new path parameter fails the
 * test until it is given an A value below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { api, NodeClient, startTestEngine, type Harness } from './helpers'

let h: Harness
beforeAll(async () => {
  h = await startTestEngine()
})
afterAll(async () => {
  await h?.stop()
})

interface WorkspaceA {
  key: string
  agentToken: string
  humanToken: string
  ids: Record<string, string>
}

async function seedA(url: string): Promise<WorkspaceA> {
  const ws = await api(url, 'POST', '/v1/workspaces', { body: { name: 'alpha' } })
  const key = ws.body.data.api_key as string
  const agent = await api(url, 'POST', '/v1/agents', { token: key, body: { name: 'a-agent' } })
  const peer = await api(url, 'POST', '/v1/agents', { token: key, body: { name: 'a-peer' } })
  const humanAgent = await api(url, 'POST', '/v1/agents', { token: key, body: { name: 'a-human', type: 'human' } })
  const node = await api(url, 'POST', '/v1/nodes', { token: key, body: { node_id: 'node_alpha_secret', name: 'a-node', capabilities: ['spawn:cat'] } })
  await api(url, 'POST', '/v1/channels', { token: agent.body.data.token, body: { name: 'a-chan', topic: 'alpha only' } })
  const dm = await api(url, 'POST', '/v1/dm', { token: agent.body.data.token, body: { to: 'a-peer', text: 'alpha secret dm' } })
  const group = await api(url, 'POST', '/v1/dm/group', { token: agent.body.data.token, body: { participants: ['a-peer'], name: 'alpha-group', text: 'hi group' } })
  const chanMsg = await api(url, 'POST', '/v1/channels/a-chan/messages', { token: agent.body.data.token, body: { text: 'alpha channel post' } })
  // Queued spawn on the (offline) node: an invocation id to aim at.
  const spawn = await api(url, 'POST', '/v1/agents/spawn', { token: key, body: { name: 'a-spawned', cli: 'cat', target_node: 'a-node' } })
  expect(spawn.status).toBe(201)
  return {
    key,
    agentToken: agent.body.data.token,
    humanToken: humanAgent.body.data.token,
    ids: {
      workspace: ws.body.data.workspace_id,
      agent: agent.body.data.id,
      peer: peer.body.data.id,
      human: humanAgent.body.data.id,
      node: node.body.data.id,
      message: dm.body.data.message.id,
      conversation: dm.body.data.conversation_id,
      group: group.body.data.id,
      channelMessage: chanMsg.body.data.id,
      delivery: dm.body.data.delivery.id,
      invocation: spawn.body.data.invocation_id,
    },
  }
}

/** Everything of A that B must not be able to read or change. */
async function snapshotA(url: string, a: WorkspaceA): Promise<unknown> {
  const get = async (path: string, token = a.key) => (await api(url, 'GET', path, { token })).body
  const stripVolatile = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, val: unknown) => (k === 'last_seen_at' ? undefined : val)))
  return stripVolatile({
    agents: await get('/v1/agents'),
    nodes: await get('/v1/nodes'),
    channels: await get('/v1/channels'),
    members: await get('/v1/channels/a-chan/members'),
    chanMessages: await get('/v1/channels/a-chan/messages'),
    deliveries: await get(`/v1/messages/${a.ids.message}/deliveries`),
    invocation: await get(`/v1/actions/spawn/invocations/${a.ids.invocation}`),
    dmMessages: await get(`/v1/dm/${a.ids.conversation}/messages`, a.agentToken),
    groupMessages: await get(`/v1/dm/${a.ids.group}/messages`, a.agentToken),
    inbox: await get('/v1/inbox', a.agentToken),
    me: await get('/v1/agent', a.agentToken),
    human: await get('/v1/agent', a.humanToken),
  })
}

describe('workspace isolation', () => {
  it('every route, called with another workspace\'s credentials, neither leaks nor changes workspace A', async () => {
    const a = await seedA(h.url)
    const bws = await api(h.url, 'POST', '/v1/workspaces', { body: { name: 'bravo' } })
    const bKey = bws.body.data.api_key as string
    const bAgent = await api(h.url, 'POST', '/v1/agents', { token: bKey, body: { name: 'b-agent', type: 'human' } })
    const bToken = bAgent.body.data.token as string
    const before = await snapshotA(h.url, a)

    // Path parameter → A's value. A route with a parameter not listed here fails the test.
    const paramValue = (path: string, param: string): string => {
      if (param === 'name') {
        if (path.startsWith('/v1/agents/')) return 'a-agent'
        if (path.startsWith('/v1/nodes/')) return 'a-node'
        if (path.startsWith('/v1/channels/')) return 'a-chan'
        if (path.startsWith('/v1/actions/')) return 'spawn'
      }
      const table: Record<string, string> = {
        id: path.startsWith('/v1/deliveries/') ? a.ids.delivery : path.includes('/invocations/') ? a.ids.invocation : a.ids.message,
        conversation_id: a.ids.group,
        agent: 'a-peer',
      }
      const v = table[param]
      if (v === undefined) throw new Error(`isolation table has no A value for :${param} in ${path}: add one`)
      return v
    }
    const body = {
      name: 'a-agent', text: 'from bravo', to: 'a-peer', agent_name: 'a-peer', participants: ['a-peer'], expected_agent_id: a.ids.agent,
      cli: 'cat', target_node: 'a-node', node_id: a.ids.node, input: { name: 'b-x', cli: 'cat', target_node: 'a-node' }, topic: 't',
    }
    // Routes that create in the caller's own workspace get a name of B's own, so they
    // do not shadow A's names for the routes that follow (that would be B's data, not a leak).
    const creates = new Set(['POST /v1/agents', 'POST /v1/channels', 'POST /v1/workspaces', 'POST /v1/agents/spawn', 'POST /v1/nodes'])
    const secrets = Object.values(a.ids)
    const routes = h.engine.routes.filter((r) => r.path !== '/health' && r.path !== '/v1/node/ws')
    expect(routes.length).toBeGreaterThan(40)
    const exercised: string[] = []
    for (const route of routes) {
      const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string)
      const path = route.path.replace(/:(\w+)/g, (_m, p: string) => encodeURIComponent(paramValue(route.path, p)))
      const query = `?q=alpha&channel=a-chan&from=a-agent&status=queued,delivered,acked`
      for (const token of [bKey, bToken]) {
        const res = await fetch(`${h.url}${path}${route.method === 'GET' ? query : ''}`, {
          method: route.method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: route.method === 'GET' || route.method === 'DELETE'
            ? undefined
            : JSON.stringify(creates.has(`${route.method} ${route.path}`) ? { ...body, name: `b-own-${exercised.length}` } : body),
        })
        const text = await res.text()
        const where = `${route.method} ${route.path} as ${token === bKey ? 'B key' : 'B agent'} → ${res.status} ${text.slice(0, 200)}`
        for (const s of secrets) expect(text.includes(s), `${where} leaks ${s}`).toBe(false)
        // Naming an A resource in the path never works from B.
        if (params.length && !(route.path.startsWith('/v1/actions/:name/invoke'))) expect(res.status, where).toBeGreaterThanOrEqual(400)
        expect(res.status, where).not.toBe(500)
        const parsed = JSON.parse(text) as { ok: boolean }
        expect(typeof parsed.ok, where).toBe('boolean')
      }
      exercised.push(`${route.method} ${route.path}`)
    }

    // The node socket: B's node cannot ack, recover or re-register A's agents.
    const bNode = await api(h.url, 'POST', '/v1/nodes', { token: bKey, body: { node_id: 'node_bravo', name: 'b-node' } })
    const node = await NodeClient.connect(h.url, bNode.body.data.token)
    await node.register('b-node', 'node_bravo')
    node.send({ type: 'delivery.ack', v: 1, agent: 'a-peer', up_to_seq: 50 })
    node.send({ type: 'agent.recover', v: 1, id: 'rec-1', name: 'a-agent', expected_agent_id: a.ids.agent })
    expect((await node.next((f) => f.id === 'rec-1')).code).toBe('agent_not_found')
    node.send({ type: 'action.result', v: 1, invocation_id: a.ids.invocation, output: { stolen: true } })
    const reg = await node.registerAgent('a-peer') // same name, B's own new identity
    expect(reg.data.agent_id).not.toBe(a.ids.peer)
    await node.close()
    // A is exactly as it was.
    const after = (await snapshotA(h.url, a)) as Record<string, unknown>
    expect(after).toEqual(before)
    expect(exercised.length).toBe(routes.length)

    // The user socket of a B human sees nothing of A.
    const user = new WebSocket(`${h.url.replace(/^http/, 'ws')}/v1/user/ws?token=${bToken}&cursor=0`)
    const frames: string[] = []
    user.on('message', (d) => frames.push(d.toString()))
    await new Promise<void>((r) => user.once('open', () => r()))
    await api(h.url, 'POST', '/v1/dm', { token: a.agentToken, body: { to: 'a-human', text: 'only for alpha human' } })
    const ping = new Promise<void>((r) => user.on('message', (d) => String(d).includes('pong') && r()))
    user.send(JSON.stringify({ type: 'ping' }))
    await ping
    user.close()
    expect(frames.length).toBeGreaterThan(1) // hello + pong at least
    for (const f of frames) for (const s of secrets) expect(f.includes(s)).toBe(false)
    expect(frames.join('')).not.toContain('only for alpha human')
  })
})
