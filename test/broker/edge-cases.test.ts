/**
 * node-protocol.md §8: the 52 edge cases, one named test each, against a scripted fake
 * engine and real PTYs. Where a case is about v5 machinery we do not have (the worker
 * stdio protocol, the /v1/ws firehose, the local sidecar over HTTP/WS, HTTP-fallback
 * registration, the bounded command channel), the test pins OUR equivalent behaviour
 * and its name says so.
 *
 * Agents are `quietcat` (cat with terminal echo off, prints READY first): every line it
 * receives appears once in its output, so "typed once" is countable.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { BrokerOptions } from '../../electron/broker'
import { ActionError } from '../../electron/broker/actions'
import { classifyPayload } from '../../electron/broker/delivery-payload'
import { DeliveryBook, SEEN_CAPACITY } from '../../electron/broker/delivery-book'
import { saveCachedToken, tokenCachePath } from '../../electron/broker/identity'
import { tempDir } from '../support/wait'
import { startFakeEngine, type FakeEngine, type FakeEngineOptions } from './fake-engine'
import { binDir, makeNode, type Node } from './harness'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

async function setup(opts: Partial<BrokerOptions> = {}, feOpts: FakeEngineOptions = {}, start = true) {
  const fe = await startFakeEngine(feOpts)
  cleanups.push(() => fe.close())
  const n = makeNode(fe, opts, cleanups)
  if (start) {
    await n.broker.start()
    await n.connected()
  }
  return { fe, n }
}

async function cat(n: Node, name: string): Promise<void> {
  await n.broker.spawn({ name, command: 'quietcat', cwd: '/tmp' })
  await n.waitOutput(name, 'READY')
}

/** A deliver frame with any seq / payload, for the agent's current identity. */
function frame(fe: FakeEngine, agent: string, seq: number, payload: unknown, extra: Record<string, unknown> = {}) {
  const a = fe.agents.get(agent)
  const id = Math.random().toString(36).slice(2)
  return { type: 'deliver', v: 1, agent, agent_id: a?.agentId ?? 'agt_x', delivery_id: `dlv_${id}`, msg_id: `msg_${id}`, seq, mode: 'wait', payload, ...extra }
}

const count = (text: string, needle: string) => text.split(needle).length - 1

const acksSince = (fe: FakeEngine, since: number, agent: string) => fe.framesOf('delivery.ack', since).filter((f) => f.agent === agent).map((f) => f.up_to_seq)

/** Post a sentinel and wait until it is acked: everything delivered before it has been handled. */
async function sentinel(fe: FakeEngine, n: Node, agent: string, text: string): Promise<void> {
  const m = fe.post(agent, text)
  await fe.waitAcked(agent, m.seq)
  await n.waitOutput(agent, text)
}

const invoke = (fe: FakeEngine, id: string, action: string, input: unknown, extra: Record<string, unknown> = {}) =>
  fe.send({ type: 'action.invoke', v: 1, invocation_id: id, action, input, ...extra })
const resultOf = (fe: FakeEngine, id: string, timeoutMs = 5000) => fe.waitFrame('action.result', (f) => f.invocation_id === id, { timeoutMs })

describe('§8 fixups inside #1201', () => {
  it('§8 #1: a deliver with an unknown top-level field is injected and acked', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const m = fe.post('a', 'unknown-field-ok', { send: false })
    fe.deliver('a', m, { trace_id: 'tr_1', future: { x: 1 } })
    await fe.waitAcked('a', 1)
    await n.waitOutput('a', 'unknown-field-ok')
  })

  it('§8 #2: an action.invoke with an unknown field is handled and answered', async () => {
    const { fe } = await setup()
    invoke(fe, 'inv_2', 'run:lint', {}, { placement: { node: 'self' } })
    expect((await resultOf(fe, 'inv_2')).error).toBe('handler_unavailable')
  })

  it('§8 #3: a deliver missing agent_id or delivery_id is dropped (not typed, not acked); the next valid one is', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const since = fe.frames.length
    const m = fe.post('a', 'missing-fields', { send: false })
    const { agent_id: _a, ...noAgentId } = fe.deliverFrame('a', m)
    const { delivery_id: _d, ...noDeliveryId } = fe.deliverFrame('a', m)
    fe.send(noAgentId)
    fe.send(noDeliveryId)
    fe.deliver('a', m)
    await fe.waitAcked('a', 1)
    expect(acksSince(fe, since, 'a')).toEqual([1])
    expect(count(n.output('a'), 'missing-fields')).toBe(1)
    expect(n.logs.filter((l) => /invalid node frame dropped/.test(l.msg))).toHaveLength(2)
  })

  it('§8 #4: message.created injects data.text from data.agent_name in #channel_name', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const m = fe.post('a', '', { payload: { type: 'message.created', data: { id: 'x', agent_name: 'alice', channel_name: 'eng', text: 'Please review PR 12' } } })
    await fe.waitAcked('a', m.seq)
    await n.waitOutput('a', `Relay message from alice in #eng [test / ${m.msgId}]: Please review PR 12`)
    expect(n.output('a')).not.toContain('"type"')
  })

  it('§8 #5: every inject alias of §4.8 is injected (e.g. direct_message.sent), not ack-dropped', async () => {
    const aliases = ['message.created', 'message.received', 'message.new', 'message.sent', 'message.delivered', 'thread.reply', 'thread.message.created', 'thread.message.sent', 'dm.received', 'dm.created', 'dm.new', 'dm.sent', 'dm.message.created', 'direct_message.received', 'direct_message.created', 'direct_message.new', 'direct_message.sent', 'group_dm.received', 'group_dm.created', 'group_dm.new', 'group_dm.sent', 'group_dm.message.created', '', 'action.completed', 'action.failed', 'action.denied']
    for (const t of aliases) expect(classifyPayload(t ? { type: t } : { text: 'flat' }), t).toBe('inject')
    const { fe, n } = await setup()
    await cat(n, 'a')
    const m = fe.post('a', '', { payload: { type: 'direct_message.sent', data: { from_name: 'bob', text: 'alias-typed' } } })
    await fe.waitAcked('a', m.seq)
    await n.waitOutput('a', 'Relay message from bob')
    expect(n.output('a')).toContain('alias-typed')
  })

  it('§8 #6: seq 0 action.completed is injected and acked with the unchanged cursor; a replay of its msg_id is acked, not typed', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    await sentinel(fe, n, 'a', 'first-seq-1')
    const since = fe.frames.length
    const f0 = frame(fe, 'a', 0, { type: 'action.completed', data: { output: 'fanout-done' } })
    fe.send(f0)
    await n.waitOutput('a', 'fanout-done')
    await fe.waitFrame('delivery.ack', (f) => f.agent === 'a', { since })
    fe.send(f0)
    await sentinel(fe, n, 'a', 'after-replay')
    expect(acksSince(fe, since, 'a')).toEqual([1, 1, 2])
    expect(count(n.output('a'), 'fanout-done')).toBe(1)
  })

  it('§8 #7: seq 0 message.reacted / message.read are acked with no PTY write', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const since = fe.frames.length
    fe.send(frame(fe, 'a', 0, { type: 'message.reacted', data: { text: 'reaction-text' } }))
    fe.send(frame(fe, 'a', 0, { type: 'message.read', data: { text: 'read-text' } }))
    await sentinel(fe, n, 'a', 'sentinel-7')
    expect(acksSince(fe, since, 'a')).toEqual([0, 0, 1])
    expect(n.output('a')).not.toMatch(/reaction-text|read-text/)
  })

  it('§8 #8: an unknown payload.type is acked with no PTY write and a warning', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const since = fe.frames.length
    const m = fe.post('a', 'never-typed', { payload: { type: 'channel.archived', data: { text: 'never-typed' } } })
    await fe.waitAcked('a', m.seq)
    await sentinel(fe, n, 'a', 'sentinel-8')
    expect(acksSince(fe, since, 'a')).toEqual([1, 2])
    expect(n.output('a')).not.toContain('never-typed')
    expect(n.logs.some((l) => l.level === 'warn' && l.msg.includes('channel.archived'))).toBe(true)
  })

  it('§8 #9: the per-agent seen-msg set holds at most 512 ids, oldest evicted first', () => {
    const book = new DeliveryBook()
    for (let i = 0; i <= SEEN_CAPACITY; i++) {
      expect(book.accept('a', 0, `m${i}`).kind).toBe('deliver')
      book.commit('a', 0, `m${i}`)
    }
    expect(book.accept('a', 0, 'm1').kind).toBe('duplicate')
    expect(book.accept('a', 0, 'm0').kind).toBe('deliver') // evicted
  })

  it('§8 #10: an injection failure (agent died with the message queued) sends no delivery.ack and leaves the cursor unchanged', async () => {
    const { fe, n } = await setup({ injector: { userHoldMs: 60_000 } })
    await cat(n, 'a')
    await sentinel(fe, n, 'a', 'before-exit')
    n.broker.writeUser('a', 'half') // hold the next injection in the queue
    const since = fe.frames.length
    const m = fe.post('a', 'into-the-void')
    await n.waitStep(m.msgId, 'queued')
    process.kill(n.broker.listAgents()[0]?.pid as number, 'SIGKILL')
    const failed = await n.waitStep(m.msgId, 'failed')
    expect(failed.detail).toMatch(/exited/)
    expect(n.steps(m.msgId).map((s) => s.state)).not.toContain('typed')
    expect(acksSince(fe, since, 'a')).toEqual([])
    expect(fe.agents.get('a')?.acked).toBe(1)
  })

  it('§8 #11: node.register lists spawn:<cli> for agent CLIs on PATH (beyond v5\'s empty bootstrap), never a bare spawn', async () => {
    const path = tempDir('clis')
    for (const cli of ['claude', 'codex']) {
      writeFileSync(join(path, cli), '#!/bin/sh\n', { mode: 0o755 })
    }
    const { fe, n } = await setup({ env: { PATH: `${path}:/usr/bin:/bin` } })
    n.broker.registerActionHandler('spawn', () => 'x')
    const reg = await fe.waitFrame('node.register')
    const names = reg.capabilities.map((c) => c.name)
    expect(names).toEqual(expect.arrayContaining(['spawn:claude', 'spawn:codex', 'release', 'relay:delivery-cursor-v1']))
    expect(reg.capabilities.find((c) => c.name === 'spawn:claude')).toEqual({ name: 'spawn:claude', kind: 'spawn', metadata: { agent: 'claude' } })
    for (const r of fe.framesOf('node.register')) expect(r.capabilities.map((c) => c.name)).not.toContain('spawn')
    for (const h of fe.framesOf('node.heartbeat')) expect(h.capabilities?.map((c) => c.name)).not.toContain('spawn')
  })

  it('§8 #12: two brokers on one host in different cwds derive different node ids and token files', async () => {
    const fe = await startFakeEngine()
    cleanups.push(() => fe.close())
    const stateDir = tempDir('shared-state')
    const a = makeNode(fe, { stateDir, cwd: () => tempDir('cwd-a') }, cleanups)
    const b = makeNode(fe, { stateDir, cwd: () => tempDir('cwd-b'), nodeName: 'other' }, cleanups)
    expect(a.broker.identity.nodeId).not.toBe(b.broker.identity.nodeId)
    await a.broker.start()
    await b.broker.start()
    await a.connected()
    await b.connected()
    expect(fe.mints.map((m) => (m.body as { node_id: string }).node_id).sort()).toEqual([a.broker.identity.nodeId, b.broker.identity.nodeId].sort())
    expect(existsSync(tokenCachePath(a.broker.tokenDir, a.broker.identity.nodeId))).toBe(true)
    expect(existsSync(tokenCachePath(b.broker.tokenDir, b.broker.identity.nodeId))).toBe(true)
  })

  it('§8 #13: with RELAY_NODE_TOKEN set, node.register.node_id is the machine-id content verbatim, and the token is used, never persisted', async () => {
    const fe = await startFakeEngine()
    cleanups.push(() => fe.close())
    const stateDir = tempDir('pinned')
    mkdirSync(stateDir, { recursive: true })
    writeFileSync(join(stateDir, 'machine-id'), 'node_pinned0123456789abcdef0123456789\n')
    const token = fe.issueToken()
    const n = makeNode(fe, { stateDir, env: { RELAY_NODE_TOKEN: ` ${token} ` } }, cleanups)
    await n.broker.start()
    const reg = await fe.waitFrame('node.register')
    expect(reg.node_id).toBe('node_pinned0123456789abcdef0123456789')
    expect(fe.upgrades[0]?.token).toBe(token)
    expect(fe.mints).toHaveLength(0)
    expect(existsSync(n.broker.tokenDir)).toBe(false)
  })

  it('§8 #14: a cached token whose workspace_id differs is ignored and a new one is minted', async () => {
    const { fe, n } = await setup({}, {}, false)
    const scope = { nodeId: n.broker.identity.nodeId, workspaceId: 'ws_other', baseUrl: fe.url }
    saveCachedToken(n.broker.tokenDir, scope, fe.issueToken())
    await n.broker.start()
    await n.connected()
    expect(fe.mints).toHaveLength(1)
    const file = JSON.parse(readFileSync(tokenCachePath(n.broker.tokenDir, n.broker.identity.nodeId), 'utf8'))
    expect(file.workspace_id).toBe('ws_test')
  })

  it('§8 #15: a cached token with another base_url is ignored; one without base_url is reused', async () => {
    const first = await setup({}, {}, false)
    saveCachedToken(first.n.broker.tokenDir, { nodeId: first.n.broker.identity.nodeId, workspaceId: 'ws_test', baseUrl: 'http://elsewhere:1' }, first.fe.issueToken())
    await first.n.broker.start()
    await first.n.connected()
    expect(first.fe.mints).toHaveLength(1)

    const second = await setup({}, {}, false)
    const legacy = second.fe.issueToken()
    saveCachedToken(second.n.broker.tokenDir, { nodeId: second.n.broker.identity.nodeId, workspaceId: 'ws_test' }, legacy)
    await second.n.broker.start()
    await second.n.connected()
    expect(second.fe.mints).toHaveLength(0)
    expect(second.fe.upgrades[0]?.token).toBe(legacy)
  })

  it('§8 #16: a 401 deletes the cache file and calls POST /v1/nodes before the next (backed-off) connect', async () => {
    const { fe, n } = await setup({}, {}, false)
    const file = tokenCachePath(n.broker.tokenDir, n.broker.identity.nodeId)
    saveCachedToken(n.broker.tokenDir, { nodeId: n.broker.identity.nodeId, workspaceId: 'ws_test', baseUrl: fe.url }, 'nt_stale')
    fe.mintScript = [500] // the first re-mint fails: the deleted file stays deleted
    await n.broker.start()
    await fe.waitEvent('mint', () => true, 5000, 'first re-mint')
    expect(existsSync(file)).toBe(false)
    await n.connected()
    expect(fe.timeline).toEqual(['upgrade:401', 'mint', 'upgrade:401', 'mint', 'upgrade:101'])
    expect(JSON.parse(readFileSync(file, 'utf8')).token).toBe(fe.upgrades.at(-1)?.token)
  })

  it('§8 #17: 5 consecutive 401s ⇒ exactly 5 re-mints even when each succeeds; the 6th logs NODE TOKEN REJECTED and mints nothing', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.upgradeScript = [401, 401, 401, 401, 401, 401]
    await n.broker.start()
    await n.connected()
    // 1 initial mint (no token yet) + 5 re-mints, then the 6th 401 mints nothing.
    expect(fe.timeline).toEqual(['mint', 'upgrade:401', 'mint', 'upgrade:401', 'mint', 'upgrade:401', 'mint', 'upgrade:401', 'mint', 'upgrade:401', 'mint', 'upgrade:401', 'upgrade:101'])
    expect(n.logs.filter((l) => l.msg.startsWith('NODE TOKEN REJECTED'))).toHaveLength(1)
  })

  it('§8 #18: a 403 or 5xx handshake never triggers a re-mint', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.upgradeScript = [403, 502, 500, 503]
    await n.broker.start()
    await n.connected()
    expect(fe.timeline).toEqual(['mint', 'upgrade:403', 'upgrade:502', 'upgrade:500', 'upgrade:503', 'upgrade:101'])
  })

  it('§8 #19: replies to node.register / inventory.sync (unknown snowflake ids) log no warning', async () => {
    const { n } = await setup()
    await cat(n, 'a') // its agent.register reply is read after the earlier replies
    expect(n.logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([])
    expect(n.logs.some((l) => /did not match a pending agent.register/.test(l.msg))).toBe(true)
  })

  it('§8 #20: an agent.register reply with another id but data.name of a pending registration completes it', async () => {
    const { fe, n } = await setup()
    fe.register = { kind: 'other-id' }
    const snap = await n.broker.spawn({ name: 'renamed-id', command: 'quietcat', cwd: '/tmp' })
    expect(snap.agentId).toBe(fe.agents.get('renamed-id')?.agentId)
  })

  it('§8 #21: action.invoke spawns send invocation_id and session_ref in agent.register, resumable:true iff session_ref', async () => {
    const { fe } = await setup()
    invoke(fe, 'inv_s1', 'spawn', { name: 'w1', cli: 'quietcat', cwd: '/tmp', harnessConfig: { sessionId: 'sess-9' } })
    invoke(fe, 'inv_s2', 'spawn', { name: 'w2', cli: 'quietcat', cwd: '/tmp' })
    await resultOf(fe, 'inv_s1')
    await resultOf(fe, 'inv_s2')
    const regs = fe.framesOf('agent.register')
    expect(regs.find((r) => r.name === 'w1')).toMatchObject({ invocation_id: 'inv_s1', session_ref: 'sess-9', resumable: true })
    const w2 = regs.find((r) => r.name === 'w2')
    expect(w2).toMatchObject({ invocation_id: 'inv_s2' })
    expect(w2 && 'session_ref' in w2).toBe(false)
    expect(w2 && 'resumable' in w2).toBe(false)
  })

  it('§8 #22 (ours: in-process handler, not a sidecar): spawn:claude with a registered spawn:claude handler goes to the handler, not the broker spawn', async () => {
    const { fe, n } = await setup()
    const calls: unknown[] = []
    n.broker.registerActionHandler('spawn:claude', (input, ctx) => {
      calls.push({ input, ctx })
      return { spawned: true, via: 'handler' }
    })
    const reg = await fe.waitFrame('node.register', (f) => f.capabilities.some((c) => c.name === 'spawn:claude'))
    expect(reg).toBeDefined()
    invoke(fe, 'inv_22', 'spawn:claude', { name: 'x' }, { agent_name: 'x' })
    expect((await resultOf(fe, 'inv_22')).output).toEqual({ spawned: true, via: 'handler' })
    expect(calls).toEqual([{ input: { name: 'x' }, ctx: { invocationId: 'inv_22', action: 'spawn:claude', agentName: 'x', agentId: undefined } }])
    expect(fe.framesOf('agent.register')).toHaveLength(0)
    const hb = await fe.waitFrame('node.heartbeat', (f) => f.handlers_live)
    expect(hb.handlers_live).toBe(true)
  })

  it('§8 #23 (ours: no HTTP-fallback registration): a failed agent.register fails the spawn clearly; nothing runs unbound', async () => {
    const { fe, n } = await setup()
    fe.register = { kind: 'error', code: 'agent_location_conflict', message: 'active on another node' }
    await expect(n.broker.spawn({ name: 'nope', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'agent_location_conflict' })
    expect(n.broker.liveAgents()).toEqual([])
    invoke(fe, 'inv_23', 'spawn', { name: 'nope2', cli: 'quietcat' })
    expect((await resultOf(fe, 'inv_23')).error).toMatch(/^spawn_failed: could not register nope2: agent_location_conflict/)
    expect(fe.framesOf('inventory.sync').every((f) => f.agents.length === 0)).toBe(true)
  })

  it('§8 #24: the broker only ever opens /v1/node/ws (never the /v1/ws firehose)', async () => {
    const { fe, n } = await setup()
    fe.dropSocket()
    await fe.waitConnection(1)
    await n.connected()
    expect(fe.upgrades.length).toBeGreaterThanOrEqual(2)
    for (const u of fe.upgrades) expect(u.path).toBe('/v1/node/ws')
  })

  it('§8 #25: with no node token (mint failing) the broker logs NO NODE TOKEN and keeps serving', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.mintScript = [500, 500]
    await n.broker.start()
    expect(n.logs.some((l) => l.level === 'error' && l.msg.startsWith('NO NODE TOKEN'))).toBe(true)
    expect(n.broker.listAgents()).toEqual([])
    await expect(n.broker.spawn({ name: 'x', command: 'quietcat' })).rejects.toMatchObject({ code: 'not_connected' })
    await n.connected() // §8 #37 too: the mint is retried
  })

  it('§8 #26 (ours: no firehose): agent.spawn_requested / release_requested never spawn or release anything', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    fe.send({ type: 'agent.spawn_requested', v: 1, name: 'ghost', cli: 'quietcat' })
    fe.post('a', 'x', { payload: { type: 'agent.spawn_requested', data: { name: 'ghost' } } })
    fe.post('a', 'y', { payload: { type: 'agent.release_requested', data: { name: 'a' } } })
    await sentinel(fe, n, 'a', 'sentinel-26')
    expect(n.broker.listAgents().map((a) => [a.name, a.status])).toEqual([['a', 'running']])
  })

  it('§8 #27: release of an already-exited agent answers {released:true}', async () => {
    const { fe, n } = await setup()
    await cat(n, 'gone')
    await n.broker.release('gone')
    invoke(fe, 'inv_27', 'release', { name: 'gone' })
    expect((await resultOf(fe, 'inv_27')).output).toEqual({ released: true, name: 'gone' })
  })
})

describe('§8 earlier fleet commits', () => {
  it('§8 #28: node.heartbeat carries name/node_id/capabilities/max_agents/version and never last_heartbeat_at', async () => {
    const { fe, n } = await setup({ maxAgents: 4 })
    const hb = await fe.waitFrame('node.heartbeat')
    expect(hb).toMatchObject({ name: 'fake-node', node_id: n.broker.identity.nodeId, max_agents: 4, version: expect.any(String), load: 0, active_agents: 0 })
    expect(hb.capabilities?.length).toBeGreaterThan(0)
    expect(fe.frames.filter((r) => r.frame.type === 'node.heartbeat').every((r) => !r.raw.includes('last_heartbeat_at'))).toBe(true)
  })

  it('§8 #29: the broker drops reply.ok:false, error.ok:true, v:2 and explicit-null frames (see wire-frames for the codec)', async () => {
    const { fe, n } = await setup()
    fe.send({ type: 'reply', v: 1, id: 'x', ok: false, data: {} })
    fe.send({ type: 'error', v: 1, id: 'x', ok: true, code: 'c', message: 'm' })
    fe.send({ type: 'ping', v: 2 })
    fe.send({ type: 'action.invoke', v: 1, invocation_id: 'inv_null', action: 'release', input: {}, agent_id: null })
    await n.waitLog(/invalid node frame dropped.*agent_id/)
    expect(n.logs.filter((l) => /invalid node frame dropped/.test(l.msg))).toHaveLength(4)
  })

  it('§8 #30: a late agent.register success after the caller timed out triggers agent.deregister with the same id', async () => {
    const { fe, n } = await setup({ nodeClient: { registerTimeoutMs: 150, initialReconnectDelayMs: 20 } })
    fe.register = { kind: 'late', afterMs: 400 }
    await expect(n.broker.spawn({ name: 'late', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'agent_register_timeout' })
    const reg = fe.framesOf('agent.register')[0]
    const dereg = await fe.waitFrame('agent.deregister')
    expect(dereg).toEqual({ type: 'agent.deregister', v: 1, id: reg?.id, agent_id: fe.agents.get('late')?.agentId, name: 'late' })
  })

  it('§8 #31: a pending agent.register older than the TTL fails agent_register_pending_expired at the next heartbeat tick', async () => {
    const { fe, n } = await setup({ nodeClient: { registerTimeoutMs: 60_000, pendingTtlMs: 200, heartbeatIntervalMs: 100 } })
    fe.register = 'never'
    await expect(n.broker.spawn({ name: 'stuck', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'agent_register_pending_expired' })
    expect(n.broker.listAgents()[0]?.status).toBe('failed')
  })

  it('§8 #32 (ours: handler unregistered instead of sidecar disconnect): in-flight invocations answer handler_unavailable', async () => {
    const { fe, n } = await setup()
    let started!: () => void
    const running = new Promise<void>((r) => (started = r))
    const off = n.broker.registerActionHandler('run:slow', () => {
      started()
      return new Promise(() => undefined)
    })
    invoke(fe, 'inv_32', 'run:slow', {})
    await running
    off()
    expect((await resultOf(fe, 'inv_32')).error).toBe('handler_unavailable')
    await fe.waitFrame('node.heartbeat', (f) => !f.handlers_live, { since: fe.frames.length - 1 })
  })

  it('§8 #33: a duplicate action.invoke replays the cached result; an in-flight duplicate gets no second answer', async () => {
    const { fe, n } = await setup()
    let calls = 0
    let finish!: (v: unknown) => void
    n.broker.registerActionHandler('run:count', () => {
      calls++
      return calls === 1 ? { n: 1 } : new Promise((r) => (finish = r))
    })
    n.broker.registerActionHandler('run:fail', () => {
      throw new ActionError('lint_failed')
    })
    invoke(fe, 'inv_a', 'run:count', {})
    await resultOf(fe, 'inv_a')
    invoke(fe, 'inv_a', 'run:count', {})
    await fe.waitFrame('action.result', (f) => f.invocation_id === 'inv_a', { since: fe.frames.findIndex((r) => r.frame.type === 'action.result') + 1 })
    invoke(fe, 'inv_b', 'run:count', {})
    invoke(fe, 'inv_b', 'run:count', {}) // in flight: no reply
    await n.waitEvent((e) => e.type === 'action' && e.step.invocationId === 'inv_b' && e.step.state === 'received', 'inv_b running')
    finish({ n: 2 })
    await resultOf(fe, 'inv_b')
    invoke(fe, 'inv_f', 'run:fail', {})
    expect((await resultOf(fe, 'inv_f')).error).toBe('lint_failed')
    const results = fe.framesOf('action.result')
    expect(results.filter((r) => r.invocation_id === 'inv_a').map((r) => r.output)).toEqual([{ n: 1 }, { n: 1 }])
    expect(results.filter((r) => r.invocation_id === 'inv_b')).toHaveLength(1)
    expect(calls).toBe(2)
  })
})

describe('§8 latent v5 behaviours (fixed here)', () => {
  it('§8 #34: the engine ack follows typing and verification, never precedes it', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const m = fe.post('a', 'ack-after-typing')
    await fe.waitAcked('a', 1)
    const steps = n.steps(m.msgId)
    expect(steps.map((s) => s.state)).toEqual(['received', 'queued', 'typed', 'verified', 'acked'])
    const ackAt = fe.frames.find((r) => r.frame.type === 'delivery.ack')?.at ?? 0
    expect(ackAt).toBeGreaterThanOrEqual(steps.find((s) => s.state === 'verified')?.at ?? Infinity)
    expect(steps.find((s) => s.state === 'verified')?.verification).toBe('echo')
  })

  it('§8 #35: release then respawn under the same name: the next message (seq > 1) is typed, not held as a gap', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    await sentinel(fe, n, 'a', 'life-1-a')
    await sentinel(fe, n, 'a', 'life-1-b')
    await n.broker.release('a')
    await cat(n, 'a')
    await sentinel(fe, n, 'a', 'life-2-c')
    expect(fe.agents.get('a')?.acked).toBe(3)
  })

  it('§8 #35 (engine without delivery_ack_seq, no local cursor): the first sequenced frame is adopted', async () => {
    const { fe, n } = await setup({}, { sendDeliveryAckSeq: false })
    fe.seedAgent('b', 5) // acked 1..5 in an earlier life the broker never saw
    await cat(n, 'b')
    await sentinel(fe, n, 'b', 'adopted-6')
    await sentinel(fe, n, 'b', 'then-7')
    expect(fe.agents.get('b')?.acked).toBe(7)
  })

  it('§8 #36: inventory.sync after reconnect lists ALL live agents (UI- and action-spawned)', async () => {
    const { fe, n } = await setup()
    await cat(n, 'ui')
    invoke(fe, 'inv_36', 'spawn:quietcat', { name: 'act', cwd: '/tmp' })
    await resultOf(fe, 'inv_36')
    const conns = fe.connections
    fe.dropSocket()
    await fe.waitConnection(conns)
    const inv = await fe.waitFrame('inventory.sync', (f) => f.agents.length === 2, { since: fe.frames.findIndex((r) => r.conn > conns) })
    expect(inv.agents.map((a) => a.name).sort()).toEqual(['act', 'ui'])
    expect(inv.agents.find((a) => a.name === 'act')?.invocation_id).toBe('inv_36')
  })

  it('§8 #37: an initial mint failure is retried (with backoff) until it succeeds', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.mintScript = [503, 503, 503]
    await n.broker.start()
    await n.connected()
    expect(fe.timeline).toEqual(['mint', 'mint', 'mint', 'mint', 'upgrade:101'])
  })

  it('§8 #38: backoff doubles with ±20% jitter up to the cap, and resets after a healthy connection', async () => {
    let clock = 1_000_000
    const { fe, n } = await setup(
      { nodeClient: { initialReconnectDelayMs: 20, maxReconnectDelayMs: 100, healthyConnectionMs: 60_000, random: () => 0.5, now: () => clock } },
      {},
      false,
    )
    const client = (n.broker as unknown as { client: { backoffHistory: number[] } }).client
    fe.upgradeScript = [502, 502, 502, 502, 502]
    await n.broker.start()
    await n.connected()
    expect(client.backoffHistory).toEqual([20, 40, 80, 100, 100])
    clock += 60_000 // the connection stayed up a minute
    fe.dropSocket()
    await fe.waitConnection(fe.connections)
    expect(client.backoffHistory.at(-1)).toBe(20)
    // A short-lived connection does not reset it.
    fe.upgradeScript = [502]
    fe.dropSocket()
    await fe.waitConnection(fe.connections)
    expect(client.backoffHistory.slice(-2)).toEqual([40, 80])
    // jitter bounds
    const lo = makeNode(fe, { nodeClient: { initialReconnectDelayMs: 100, random: () => 0 } }, cleanups)
    const hi = makeNode(fe, { nodeClient: { initialReconnectDelayMs: 100, random: () => 1 } }, cleanups)
    fe.refuseAll = 502
    await lo.broker.start()
    await hi.broker.start()
    const hist = (x: Node) => (x.broker as unknown as { client: { backoffHistory: number[] } }).client.backoffHistory
    await lo.waitEvent((e) => e.type === 'node.state' && e.state === 'backoff' && hist(lo).length > 0, 'lo backoff')
    await hi.waitEvent((e) => e.type === 'node.state' && e.state === 'backoff' && hist(hi).length > 0, 'hi backoff')
    expect(hist(lo)[0]).toBe(80)
    expect(hist(hi)[0]).toBe(120)
  })

  it('§8 #39: a blackholed socket is detected (read-idle timeout + WS ping) and replaced', async () => {
    const { fe, n } = await setup({ nodeClient: { heartbeatIntervalMs: 100, readIdleTimeoutMs: 400, initialReconnectDelayMs: 20 } })
    await cat(n, 'a')
    const conns = fe.connections
    fe.blackhole()
    await fe.waitConnection(conns, 5000)
    await n.connected()
    expect(n.logs.some((l) => /idle timeout/.test(l.msg))).toBe(true)
    await sentinel(fe, n, 'a', 'after-blackhole')
  })

  it('§8 #40: release of a name this node never ran answers release_failed (v5 said released)', async () => {
    const { fe } = await setup()
    invoke(fe, 'inv_40', 'release', { name: 'never-was' })
    expect((await resultOf(fe, 'inv_40')).error).toBe('release_failed: no agent named "never-was" on this node')
    invoke(fe, 'inv_40b', 'release', {})
    expect((await resultOf(fe, 'inv_40b')).error).toBe('release_missing_agent_name')
  })

  it('§8 #41: release and exit both send agent.deregister', async () => {
    const { fe, n } = await setup()
    await cat(n, 'r')
    await cat(n, 'e')
    invoke(fe, 'inv_41', 'release', { name: 'r' })
    await resultOf(fe, 'inv_41')
    n.broker.writeUser('e', '\x04')
    await fe.waitFrame('agent.deregister', (f) => f.name === 'e')
    const ids = fe.framesOf('agent.deregister').map((f) => f.agent_id).sort()
    expect(ids).toEqual([fe.agents.get('r')?.agentId, fe.agents.get('e')?.agentId].sort())
  })

  it('§8 #42: a spawn whose process exits at once is NOT reported spawned', async () => {
    const { fe } = await setup()
    invoke(fe, 'inv_42', 'spawn', { name: 'crash', cli: 'dies', cwd: '/tmp' })
    expect((await resultOf(fe, 'inv_42')).error).toMatch(/^spawn_failed: dies exited right after it started \(exit code 3\)/)
  })

  it('§8 #43: action.invoke with "agent_name": null is dropped (no action.result), logged; the next one is answered', async () => {
    const { fe, n } = await setup()
    invoke(fe, 'inv_43', 'release', { name: 'x' }, { agent_name: null })
    invoke(fe, 'inv_43ok', 'run:x', {})
    await resultOf(fe, 'inv_43ok')
    expect(fe.framesOf('action.result').map((r) => r.invocation_id)).toEqual(['inv_43ok'])
    expect(n.logs.some((l) => /invalid node frame dropped.*inv_43/.test(l.msg))).toBe(true)
  })

  it('§8 #44: an extra key in agent.register reply data fails the spawn at once with invalid_agent_register_reply_data', async () => {
    const { fe, n } = await setup()
    fe.register = { kind: 'extra-field' }
    await expect(n.broker.spawn({ name: 'x', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'invalid_agent_register_reply_data' })
  })

  it('§8 #45: an error frame for node.register (node_id_mismatch) is logged and surfaced as a node.error event', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.rejectNodeRegister = { code: 'node_id_mismatch', message: 'node_id does not match the token' }
    await n.broker.start()
    const e = await n.waitEvent((x) => (x.type === 'node.error' ? x : undefined), 'node.error')
    expect(e).toMatchObject({ code: 'node_id_mismatch', message: 'node_id does not match the token' })
    expect(n.logs.some((l) => l.level === 'error' && l.msg.includes('node_id_mismatch'))).toBe(true)
  })

  it('§8 #46 (ours: no sidecar deregister_node): after shutdown (node.deregister) node control stays offline', async () => {
    const { fe, n } = await setup()
    await n.broker.stop()
    await fe.waitFrame('node.deregister')
    expect(fe.connected).toBe(false) // stop() waited for the clean close
    n.broker.reconnect()
    expect(n.broker.state.state).toBe('stopped')
    await expect(n.broker.spawn({ name: 'x', command: 'quietcat' })).rejects.toMatchObject({ code: 'broker_stopped' })
  })

  it('§8 #47: a spawn publishes load at once (heartbeat with the new active_agents)', async () => {
    const { fe, n } = await setup()
    const since = fe.frames.length
    await cat(n, 'a')
    const hb = await fe.waitFrame('node.heartbeat', (f) => f.active_agents === 1, { since })
    expect(hb.active_agents).toBe(1)
  })

  it('§8 #48 (ours: no local send path; the user-typing hold instead of manual_flush): a delivery waits while the user has a half-typed line', async () => {
    const { fe, n } = await setup({ injector: { userHoldMs: 60_000 } })
    await cat(n, 'a')
    n.broker.writeUser('a', 'half-typed')
    const m = fe.post('a', 'held-message')
    const q = await n.waitEvent((e) => (e.type === 'delivery' && e.step.msgId === m.msgId && e.step.detail?.includes('finish typing') ? e : undefined), 'held')
    expect(q.step.state).toBe('queued')
    expect(n.broker.listAgents()[0]?.pendingInjections).toBe(1)
    n.broker.writeUser('a', '\r')
    await fe.waitAcked('a', 1)
    await n.waitOutput('a', 'held-message')
    const out = n.output('a')
    // The user's line reached the agent, whole, before the message that waited for it.
    const userLine = out.indexOf('half-typed')
    expect(userLine).toBeGreaterThan(-1)
    expect(out.indexOf('held-message')).toBeGreaterThan(userLine)
    expect(out).not.toMatch(/half-typedRelay/)
  })

  it('§8 #49: spawn → release → spawn of the same name works; a duplicate spawn while alive answers spawn_agent_name_in_use', async () => {
    const { fe } = await setup()
    invoke(fe, 'i1', 'spawn', { name: 'dup', cli: 'quietcat', cwd: '/tmp' })
    expect((await resultOf(fe, 'i1')).output).toEqual({ spawned: true, name: 'dup' })
    invoke(fe, 'i2', 'release', { name: 'dup' })
    expect((await resultOf(fe, 'i2')).output).toEqual({ released: true, name: 'dup' })
    invoke(fe, 'i3', 'spawn', { name: 'dup', cli: 'quietcat', cwd: '/tmp' })
    expect((await resultOf(fe, 'i3')).output).toEqual({ spawned: true, name: 'dup' })
    invoke(fe, 'i4', 'spawn', { name: 'dup', cli: 'quietcat', cwd: '/tmp' })
    expect((await resultOf(fe, 'i4')).error).toBe('spawn_agent_name_in_use')
  })

  it('§8 #50: broker-direct spawn:<cli> without cli in the input uses the suffix', async () => {
    const { fe, n } = await setup()
    invoke(fe, 'inv_50', 'spawn:quietcat', { name: 'suffix', cwd: '/tmp' })
    expect((await resultOf(fe, 'inv_50')).output).toEqual({ spawned: true, name: 'suffix' })
    expect(n.broker.listAgents()[0]).toMatchObject({ name: 'suffix', command: 'quietcat', status: 'running' })
    invoke(fe, 'inv_50b', 'spawn', { name: 'nocli' })
    expect((await resultOf(fe, 'inv_50b')).error).toBe('spawn_missing_cli')
    invoke(fe, 'inv_50c', 'spawn:quietcat', {})
    expect((await resultOf(fe, 'inv_50c')).error).toBe('spawn_missing_agent_name')
  })

  it('§8 #51: a non-401 failure (502) between 401s resets the re-mint counter: the cap is per unbroken run of 401s', async () => {
    const { fe, n } = await setup({}, {}, false)
    fe.upgradeScript = [401, 401, 401, 401, 401, 502, 401, 401]
    await n.broker.start()
    await n.connected()
    // initial mint + 5 re-mints, the 502 resets, then 2 more re-mints.
    expect(fe.timeline.filter((t) => t === 'mint')).toHaveLength(8)
    expect(n.logs.some((l) => l.msg.startsWith('NODE TOKEN REJECTED'))).toBe(false)
  })

  it('§8 #52 (ours: no bounded command channel): during an outage local work goes on and commands fail fast', async () => {
    const { fe, n } = await setup({ injector: { userHoldMs: 60_000 } })
    await cat(n, 'a')
    n.broker.writeUser('a', 'typing')
    const m = fe.post('a', 'typed-during-outage')
    await n.waitStep(m.msgId, 'queued')
    fe.refuseAll = 502
    fe.dropSocket()
    await n.waitEvent((e) => e.type === 'node.state' && e.state === 'backoff', 'outage seen')
    n.broker.writeUser('a', '\r')
    await n.waitStep(m.msgId, 'acked') // typed and committed locally; the ack could not be sent
    await n.waitOutput('a', 'typed-during-outage')
    await expect(n.broker.spawn({ name: 'b', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'not_connected' })
    fe.refuseAll = undefined
    await fe.waitAcked('a', 1) // re-sent after reconnect
    expect(count(n.output('a'), 'typed-during-outage')).toBe(1)
  })
})

// keep binDir referenced so the helper programs exist before any PATH lookup
binDir()
