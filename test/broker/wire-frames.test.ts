/**
 * Wire v1 encoding (node-protocol.md §3.2–§3.7): the exact JSON of every frame the broker
 * sends, captured off the socket of a fake engine (golden strings, field order included),
 * and the decoding rules of every frame the engine sends.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { BROKER_VERSION } from '../../electron/broker'
import { decodeServerFrame, encodeFrame, nodeToServerSchema, DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { startFakeEngine, type FakeEngine } from './fake-engine'
import { makeNode } from './harness'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

async function engine(): Promise<FakeEngine> {
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  return fe
}

const rawOf = (fe: FakeEngine, type: string, nth = 0) => fe.frames.filter((r) => r.frame.type === type)[nth]?.raw

describe('broker → engine frames: golden JSON', () => {
  it('node.register, node.heartbeat, inventory.sync, agent.register, delivery.ack, agent.deregister, action.result, node.deregister', async () => {
    const fe = await engine()
    // PATH without any agent CLI: the manifest is exactly release + the cursor capability.
    const n = makeNode(fe, { env: { PATH: '/usr/bin:/bin' } }, cleanups)
    await n.broker.start()
    await fe.waitFrame('node.heartbeat')
    const nodeId = n.broker.identity.nodeId
    const tags = JSON.stringify([process.platform, process.arch])
    const caps = `[{"name":"release","kind":"capacity"},{"name":"${DELIVERY_CURSOR_CAPABILITY}","kind":"capacity"}]`
    expect(rawOf(fe, 'node.register')).toBe(
      `{"type":"node.register","v":1,"name":"fake-node","node_id":"${nodeId}","capabilities":${caps},"max_agents":0,"tags":${tags},"version":"${BROKER_VERSION}","resume_cursor":null}`,
    )
    expect(rawOf(fe, 'inventory.sync')).toBe('{"type":"inventory.sync","v":1,"agents":[]}')
    expect(rawOf(fe, 'node.heartbeat')).toBe(
      `{"type":"node.heartbeat","v":1,"name":"fake-node","node_id":"${nodeId}","capabilities":${caps},"max_agents":0,"version":"${BROKER_VERSION}","load":0,"active_agents":0,"handlers_live":false}`,
    )

    // agent.register (UI spawn: no invocation, no session) then inventory with the agent.
    await n.broker.spawn({ name: 'gold', command: 'cat', cwd: '/tmp' })
    await fe.waitFrame('agent.register')
    const reg = rawOf(fe, 'agent.register') as string
    expect(reg).toMatch(/^\{"type":"agent\.register","v":1,"id":"agent_register_[0-9a-f]{32}","name":"gold"\}$/)
    const agentId = fe.agents.get('gold')?.agentId
    await fe.waitFrame('inventory.sync', (f) => f.agents.length === 1)
    expect(rawOf(fe, 'inventory.sync', 1)).toBe(`{"type":"inventory.sync","v":1,"agents":[{"agent_id":"${agentId}","name":"gold"}]}`)

    // action.invoke spawn: invocation_id + session_ref + resumable in agent.register.
    fe.send({ type: 'action.invoke', v: 1, invocation_id: 'inv_g1', action: 'spawn:cat', input: { name: 'gold2', session_ref: 'sess-7', cwd: '/tmp' } })
    await fe.waitFrame('action.result', (f) => f.invocation_id === 'inv_g1')
    expect(rawOf(fe, 'agent.register', 1)).toMatch(
      /^\{"type":"agent\.register","v":1,"id":"agent_register_[0-9a-f]{32}","name":"gold2","invocation_id":"inv_g1","session_ref":"sess-7","resumable":true\}$/,
    )
    expect(rawOf(fe, 'action.result')).toBe('{"type":"action.result","v":1,"invocation_id":"inv_g1","output":{"spawned":true,"name":"gold2"}}')
    fe.send({ type: 'action.invoke', v: 1, invocation_id: 'inv_g2', action: 'run:nothing', input: {} })
    await fe.waitFrame('action.result', (f) => f.invocation_id === 'inv_g2')
    expect(rawOf(fe, 'action.result', 1)).toBe('{"type":"action.result","v":1,"invocation_id":"inv_g2","error":"handler_unavailable"}')

    // delivery.ack after typing.
    fe.post('gold', 'golden-ack')
    await fe.waitAcked('gold', 1)
    expect(rawOf(fe, 'delivery.ack')).toBe('{"type":"delivery.ack","v":1,"agent":"gold","up_to_seq":1}')

    // agent.deregister on release; node.deregister on shutdown.
    await n.broker.release('gold')
    await fe.waitFrame('agent.deregister')
    expect(rawOf(fe, 'agent.deregister')).toBe(`{"type":"agent.deregister","v":1,"agent_id":"${agentId}","name":"gold"}`)
    await n.broker.stop()
    await fe.waitFrame('node.deregister')
    expect(rawOf(fe, 'node.deregister')).toBe('{"type":"node.deregister","v":1}')
  })

  it('every recorded frame re-encodes to the identical JSON (round trip through the schemas)', async () => {
    const fe = await engine()
    const n = makeNode(fe, {}, cleanups)
    await n.broker.start()
    await n.connected()
    await n.broker.spawn({ name: 'rt', command: 'cat', cwd: '/tmp' })
    fe.post('rt', 'round-trip')
    await fe.waitAcked('rt', 1)
    await n.broker.stop()
    await fe.waitFrame('node.deregister')
    for (const r of fe.frames) {
      const parsed = nodeToServerSchema.parse(JSON.parse(r.raw))
      expect(encodeFrame(parsed)).toBe(r.raw)
      // Optional fields are omitted, never null (resume_cursor is the one exception).
      expect(r.raw.replace('"resume_cursor":null', '')).not.toContain('null')
    }
  })

  it('§8 #29: action.result needs exactly one of output/error; heartbeat load must be finite and ≥ 0', () => {
    const base = { type: 'action.result', v: 1, invocation_id: 'i' }
    expect(nodeToServerSchema.safeParse({ ...base, output: 1 }).success).toBe(true)
    expect(nodeToServerSchema.safeParse({ ...base, error: 'x' }).success).toBe(true)
    expect(nodeToServerSchema.safeParse({ ...base, output: 1, error: 'x' }).success).toBe(false)
    expect(nodeToServerSchema.safeParse(base).success).toBe(false)
    const hb = { type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: false }
    expect(nodeToServerSchema.safeParse({ ...hb, load: 0.5 }).success).toBe(true)
    for (const load of [Number.NaN, Number.POSITIVE_INFINITY, -0.1]) {
      expect(nodeToServerSchema.safeParse({ ...hb, load }).success).toBe(false)
    }
    expect(nodeToServerSchema.safeParse({ ...hb, last_heartbeat_at: 'now' }).success).toBe(false)
  })
})

describe('engine → broker frames: decoding rules', () => {
  const deliver = { type: 'deliver', v: 1, agent: 'a', agent_id: 'agt', delivery_id: 'd', msg_id: 'm', seq: 1, mode: 'wait', payload: {} }
  const invoke = { type: 'action.invoke', v: 1, invocation_id: 'i', action: 'spawn', input: {} }
  const ok = (f: unknown) => decodeServerFrame(JSON.stringify(f)).ok

  it('deliver: unknown fields tolerated; required fields, mode and v enforced; null rejected', () => {
    expect(ok(deliver)).toBe(true)
    expect(ok({ ...deliver, extra: { nested: true } })).toBe(true)
    for (const k of ['agent', 'agent_id', 'delivery_id', 'msg_id', 'seq', 'mode']) {
      const { [k]: _, ...rest } = deliver as Record<string, unknown>
      expect(ok(rest), `without ${k}`).toBe(false)
    }
    expect(ok({ ...deliver, mode: 'interrupt' })).toBe(false)
    expect(ok({ ...deliver, v: 2 })).toBe(false)
    expect(ok({ ...deliver, agent_id: null })).toBe(false)
    expect(ok({ ...deliver, seq: -1 })).toBe(false)
  })

  it('action.invoke: unknown fields tolerated; optional agent_id/agent_name absent ok, null rejected; v≠1 rejected', () => {
    expect(ok(invoke)).toBe(true)
    expect(ok({ ...invoke, placement: { node: 'self' } })).toBe(true)
    expect(ok({ ...invoke, agent_name: 'x', agent_id: 'y' })).toBe(true)
    expect(ok({ ...invoke, agent_name: null })).toBe(false)
    expect(ok({ ...invoke, agent_id: null })).toBe(false)
    expect(ok({ ...invoke, v: 0 })).toBe(false)
    const { invocation_id: _, ...noId } = invoke
    expect(ok(noId)).toBe(false)
  })

  it('ping: strict (no other field), v must be 1', () => {
    expect(ok({ type: 'ping', v: 1 })).toBe(true)
    expect(ok({ type: 'ping', v: 1, ts: 1 })).toBe(false)
    expect(ok({ type: 'ping', v: 2 })).toBe(false)
    expect(ok({ type: 'ping' })).toBe(false)
  })

  it('reply: strict, ok must be literally true', () => {
    const reply = { type: 'reply', v: 1, id: 'x', ok: true, data: { a: 1 } }
    expect(ok(reply)).toBe(true)
    expect(ok({ ...reply, data: null })).toBe(true) // data is any JSON
    expect(ok({ ...reply, extra: 1 })).toBe(false)
    expect(ok({ ...reply, ok: false })).toBe(false)
    expect(ok({ ...reply, v: 2 })).toBe(false)
    expect(ok({ ...reply, id: null })).toBe(false)
  })

  it('error: strict, ok must be literally false', () => {
    const err = { type: 'error', v: 1, id: 'x', ok: false, code: 'c', message: 'm' }
    expect(ok(err)).toBe(true)
    expect(ok({ ...err, ok: true })).toBe(false)
    expect(ok({ ...err, retryable: false })).toBe(false)
    expect(ok({ ...err, v: 2 })).toBe(false)
    expect(ok({ ...err, message: null })).toBe(false)
  })

  it('unknown type, non-JSON and binary-ish text are rejected', () => {
    expect(ok({ type: 'agent.spawn_requested', v: 1 })).toBe(false)
    expect(decodeServerFrame('not json').ok).toBe(false)
    expect(decodeServerFrame('[1,2]').ok).toBe(false)
  })
})
