/**
 * Bad input: each kind gets a clear error and the engine keeps serving; then a bounded
 * fuzz (10,000 seeded-random frames and bodies) after which the engine still delivers.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { api, NodeClient, postOversized, seedWorld, startTestEngine, type Harness } from './helpers'
import { rng } from '../support/rng'

let h: Harness | undefined
const clients: NodeClient[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
})


async function stillDelivers(url: string, w: Awaited<ReturnType<typeof seedWorld>>, text: string): Promise<void> {
  // A fresh token for the sender: the fuzz may legitimately have revoked or rotated alice's.
  const sender = (await api(url, 'POST', '/v1/agents/alice/rotate-token', { token: w.wsKey })).body.data.token as string
  const node = await NodeClient.connect(url, w.nodeToken)
  clients.push(node)
  await node.register(w.nodeName, w.nodeId)
  await node.registerAgent('probe-target')
  const sent = await api(url, 'POST', '/v1/dm', { token: sender, body: { to: 'probe-target', text } })
  expect(sent.status).toBe(201)
  const d = await node.next((f) => f.type === 'deliver' && f.payload?.data?.text === text, 5000)
  node.send({ type: 'delivery.ack', v: 1, agent: 'probe-target', up_to_seq: d.seq })
}

describe('bad input', () => {
  it('REST: malformed JSON, wrong types, huge bodies, wrong tokens → clear errors; engine keeps serving', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const cases: Array<[string, [string, string, Parameters<typeof api>[3]], number, string]> = [
      ['malformed JSON', ['POST', '/v1/dm', { token: w.aliceToken, raw: '{"to":' }], 400, 'invalid_json'],
      ['wrong type', ['POST', '/v1/dm', { token: w.aliceToken, body: { to: 42, text: 'x' } }], 400, 'invalid_request'],
      ['array body', ['POST', '/v1/channels', { token: w.aliceToken, body: [1, 2] }], 400, 'invalid_request'],
      ['missing field', ['POST', '/v1/agents', { token: w.wsKey, body: {} }], 400, 'invalid_request'],
      ['bad enum', ['POST', '/v1/dm', { token: w.aliceToken, body: { to: 'alice', text: 'x', mode: 'shout' } }], 400, 'invalid_request'],
      ['bad limit', ['GET', '/v1/channels/general/messages?limit=-4', { token: w.aliceToken }], 400, 'invalid_request'],
      ['bad after', ['GET', '/v1/deliveries?after=x', { token: w.aliceToken }], 400, 'invalid_request'],
      ['empty search', ['GET', '/v1/search?q=', { token: w.aliceToken }], 400, 'invalid_request'],
      ['no token', ['GET', '/v1/agents', {}], 401, 'unauthorized'],
      ['unknown token', ['GET', '/v1/agents', { token: 'at_live_forged' }], 401, 'invalid_token'],
      ['garbage token', ['GET', '/v1/agents', { token: 'hello' }], 401, 'invalid_token'],
      ['node token on REST', ['GET', '/v1/agents', { token: w.nodeToken }], 403, 'forbidden'],
      ['agent token on admin route', ['POST', '/v1/agents', { token: w.aliceToken, body: { name: 'x' } }], 403, 'forbidden'],
      ['unknown route', ['GET', '/v1/nope', { token: w.wsKey }], 404, 'not_found'],
      // PostgreSQL cannot store U+0000 in text: refused at the edge on either store.
      ['NUL in text', ['POST', '/v1/dm', { token: w.aliceToken, body: { to: 'alice', text: 'a\u0000b' } }], 400, 'invalid_request'],
      ['NUL in a name', ['POST', '/v1/agents', { token: w.wsKey, body: { name: 'x\u0000y' } }], 400, 'invalid_request'],
    ]
    for (const [what, args, status, code] of cases) {
      const res = await api(h.url, args[0], args[1], args[2])
      expect(res.status, what).toBe(status)
      expect(res.body, what).toMatchObject({ ok: false, error: { code } })
      expect(res.body.error?.message.length, what).toBeGreaterThan(5)
    }
    const nul = await api(h.url, 'POST', '/v1/channels/general/messages', { token: w.aliceToken, body: { text: 'ok', attachments: [{ name: '\u0000' }] } })
    expect(nul.body.error?.message).toBe('attachments.0.name: must not contain NUL characters (U+0000)')
    const huge = await postOversized(h.url, '/v1/dm', w.aliceToken, JSON.stringify({ to: 'alice', text: 'x'.repeat(1024 * 1024 + 10) }))
    expect(huge).toMatchObject({ status: 413, body: { ok: false, error: { code: 'payload_too_large' } } })
    // FTS syntax in a query is just text, never an error.
    expect((await api(h.url, 'GET', `/v1/search?q=${encodeURIComponent('"NEAR( * OR ) AND -')}`, { token: w.aliceToken })).status).toBe(200)
    await stillDelivers(h.url, w, 'after bad REST input')
  })

  it('node socket: unknown frame types, bad JSON, frames before register → error frames; socket and engine keep working', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    node.send({ type: 'delivery.ack', v: 1, agent: 'x', up_to_seq: 1 })
    expect(await node.next((f) => f.type === 'error')).toMatchObject({ code: 'node_not_registered', ok: false, v: 1 })
    node.send({ type: 'agent.register', v: 1, id: 'early', name: 'x' })
    expect(await node.next((f) => f.id === 'early')).toMatchObject({ type: 'error', code: 'node_not_registered' })
    node.send({ type: 'agent.recover', v: 1, id: 'early2', name: 'x', expected_agent_id: 'agt_x' })
    expect(await node.next((f) => f.id === 'early2')).toMatchObject({ type: 'error', code: 'node_not_registered' })
    const from = node.frames.length
    node.send({ type: 'teleport', v: 1, id: 'tp' })
    node.send('not json at all')
    node.send({ type: 'node.heartbeat', v: 2, active_agents: 0, handlers_live: true })
    node.send({ type: 'agent.register', v: 1, id: 'nul', name: 'bad\u0000name' })
    node.send({ type: 'agent.recover', v: 1, id: 'rc', name: 'x' })
    await node.next((f) => f.id === 'rc' && f.code === 'invalid_message', 3000, from)
    const errors = node.frames.slice(from).filter((f) => f.type === 'error')
    expect(errors.map((e) => e.code)).toEqual(['invalid_message', 'invalid_message', 'invalid_message', 'invalid_message', 'invalid_message'])
    expect(errors.find((e) => e.id === 'nul')?.message).toBe('name: must not contain NUL characters (U+0000)')
    expect(errors[0].id).toBe('tp') // the id of a frame we could not decode is echoed when readable
    await node.close()
    await stillDelivers(h.url, w, 'after bad frames')
  })

  it('fuzz: 10,000 random frames and bodies (seeded), then the engine still delivers', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const random = rng(0xf022)
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const atoms: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, '', 'x', 'bob', 'alice', '#general', '\u0000', 'ü🚀', [], {}, [1, 'a'], { v: 1 }]
    const keys = ['type', 'v', 'id', 'name', 'node_id', 'agent', 'up_to_seq', 'agents', 'capabilities', 'text', 'to', 'mode', 'input', 'invocation_id', 'output', 'error', 'participants', 'load', 'active_agents', 'handlers_live', 'max_agents', 'tags', 'version', 'resume_cursor', 'expected_agent_id']
    const types = ['node.register', 'node.heartbeat', 'node.deregister', 'agent.register', 'agent.recover', 'agent.deregister', 'delivery.ack', 'inventory.sync', 'action.result', 'ping', 'deliver', 'bogus']
    const value = (depth: number): unknown => {
      const r = random()
      if (depth > 2 || r < 0.6) return pick(atoms)
      if (r < 0.8) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1))
      return object(depth + 1)
    }
    const object = (depth: number): Record<string, unknown> => {
      const o: Record<string, unknown> = {}
      for (let i = Math.floor(random() * 6); i > 0; i--) o[pick(keys)] = value(depth)
      return o
    }
    const frame = (): string => {
      const r = random()
      if (r < 0.1) return Array.from({ length: Math.floor(random() * 40) }, () => String.fromCharCode(Math.floor(random() * 128))).join('')
      const o = object(0)
      if (r < 0.85) {
        o.type = pick(types)
        o.v = random() < 0.9 ? 1 : pick(atoms)
      }
      return JSON.stringify(o)
    }

    // 8,000 frames on a registered node socket (any bad one only gets an error frame).
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId)

    for (let i = 0; i < 8000; i++) node.send(frame())
    // Frames are handled in order: the answer to this one means all 8,000 were processed.
    const from = node.frames.length
    node.send({ type: 'agent.register', v: 1, id: 'probe-after-frames', name: 'after-fuzz-probe' })
    const probe = await node.next((f) => f.id === 'probe-after-frames', 20_000, from)
    expect(node.closed).toBeUndefined()
    expect(probe.type === 'reply' || probe.type === 'error').toBe(true)
    await node.close()


    // 2,000 bodies over real HTTP against every POST/GET route, 16 at a time.
    const routes = h.engine.routes.filter((r) => r.method === 'POST' || r.method === 'GET')
    const tokens = [w.wsKey, w.aliceToken, w.nodeToken, 'at_live_bogus', '']
    let statuses = new Map<number, number>()
    let next = 0
    const worker = async () => {
      while (next < 2000) {
        next++
        const route = pick(routes)
        const path = route.path.replace(/:(\w+)/g, () => encodeURIComponent(String(pick(atoms)) || 'x'))
        const token = pick(tokens)
        const res = await fetch(h!.url + path, {
          method: route.method,
          headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
          body: route.method === 'POST' ? frame() : undefined,
        })
        const text = await res.text()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        // Always our envelope, never an internal error.
        expect(res.status, `${route.method} ${path} → ${text.slice(0, 200)}`).not.toBe(500)
        expect(JSON.parse(text)).toHaveProperty('ok')
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true)
    statuses = new Map()
    await stillDelivers(h.url, w, 'after 10,000 fuzz inputs')
  }, 60_000)
})
