/**
 * The walking skeleton's joint: our real engine on 127.0.0.1, our broker, a real `cat`
 * agent in a PTY. A DM sent over REST must be typed into cat, and acked only after.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { Broker, type BrokerEvent, type DeliveryStep } from '../../electron/broker'
import { EngineApi } from '../../electron/broker/engine-api'
import { tokenCachePath } from '../../electron/broker/identity'
import { startEngine, type RunningEngine } from '../../electron/engine'
import { tempDir, waitFor } from '../support/wait'

const deliveriesSchema = z.array(z.looseObject({ agent_name: z.string(), seq: z.number(), status: z.string() }))

interface World {
  engine: RunningEngine
  api: EngineApi
  key: string
  workspaceId: string
  engineDir: string
}

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

async function world(engineDir = tempDir('engine')): Promise<World> {
  const engine = await startEngine({ port: 0, dataDir: engineDir })
  cleanups.push(() => engine.close())
  const api = new EngineApi({ baseUrl: engine.url })
  const ws = await api.createWorkspace(`t-${Math.random().toString(36).slice(2)}`)
  return { engine, api, key: ws.api_key, workspaceId: ws.workspace_id, engineDir }
}

function brokerFor(w: World, stateDir = tempDir('node'), url = w.engine.url) {
  const events: BrokerEvent[] = []
  const logs: string[] = []
  const broker = new Broker({
    log: (_level, msg) => logs.push(msg),
    baseUrl: url,
    workspaceKey: w.key,
    workspaceId: w.workspaceId,
    stateDir,
    nodeName: 'test-node',
    env: { ...process.env, RELAY_NODE_TOKEN: '' },
    cwd: () => stateDir,
    nodeClient: { initialReconnectDelayMs: 50, maxReconnectDelayMs: 200 },
  })
  broker.on((e) => events.push(e))
  cleanups.push(() => broker.stop())
  const output = new Map<string, string>()
  broker.on((e) => {
    if (e.type === 'agent.output') output.set(e.name, (output.get(e.name) ?? '') + e.data)
  })
  const steps = (msgId: string) =>
    events.filter((e): e is { type: 'delivery'; step: DeliveryStep } => e.type === 'delivery' && e.step.msgId === msgId).map((e) => e.step.state)
  return { broker, events, output, steps, stateDir, logs }
}

async function connected(b: Broker) {
  await waitFor(() => b.state.state === 'connected', 'broker connected')
}

/** A connected broker on a fresh world, with a `cat` agent named catty. */
async function nodeWithCat() {
  const w = await world()
  const n = brokerFor(w)
  await n.broker.start()
  await connected(n.broker)
  await n.broker.spawn({ name: 'catty', command: 'cat', cwd: '/tmp' })
  return { w, n }
}

async function deliveries(w: World, msgId: string) {
  return w.api.request('GET', `/v1/messages/${msgId}/deliveries`, { token: w.key, schema: deliveriesSchema })
}

describe('engine + broker + cat (walking skeleton)', () => {
  it('types a DM sent over REST into the agent PTY, then the engine records the ack', async () => {
    const { w, n } = await nodeWithCat()
    const alice = await w.api.ensureAgent(w.key, 'alice')
    const marker = `hello-${Math.random().toString(36).slice(2)}`
    const sent = await w.api.sendDm(alice.token, { to: 'catty', text: marker })

    await waitFor(() => (n.output.get('catty') ?? '').includes(`Relay message from alice`) && n.output.get('catty')?.includes(marker), 'the text in the PTY')
    await waitFor(async () => (await deliveries(w, sent.message.id)).some((d) => d.status === 'acked'), 'engine records the ack')
    // Every step present, once, and the ack strictly after typing and verification.
    expect(n.steps(sent.message.id)).toEqual(['received', 'queued', 'typed', 'verified', 'acked'])
  })

  it('a PTY paused for a slow viewer is read again while a message is typed into it, so the typing is verified by its echo', async () => {
    const { w, n } = await nodeWithCat()
    n.broker.setOutputPaused('catty', true)
    expect(n.broker.outputPaused('catty')).toBe(true)
    const alice = await w.api.ensureAgent(w.key, 'alice')
    const sent = await w.api.sendDm(alice.token, { to: 'catty', text: 'typed-while-paused' })
    await waitFor(async () => (await deliveries(w, sent.message.id)).some((d) => d.status === 'acked'), 'the engine records the ack')
    const verified = n.events.find((e) => e.type === 'delivery' && e.step.msgId === sent.message.id && e.step.state === 'verified')
    // Left paused, the echo is never read and the typing only passes on a timeout fallback.
    expect(verified?.type === 'delivery' && verified.step.verification).toBe('echo')
    expect(n.output.get('catty')).toContain('typed-while-paused')
    // While a message waits, the viewer's pause is not taken up.
    expect(n.broker.outputPaused('catty')).toBe(false)
  })

  it('delivers several messages in order, each typed once', async () => {
    const { w, n } = await nodeWithCat()
    const bob = await w.api.ensureAgent(w.key, 'bob')
    const ids: string[] = []
    for (let i = 0; i < 10; i++) ids.push((await w.api.sendDm(bob.token, { to: 'catty', text: `seq-msg-${i}-x` })).message.id)
    await waitFor(async () => (await deliveries(w, ids[9] as string)).some((d) => d.status === 'acked'), 'last one acked')
    const typedOf = () => [...(n.output.get('catty') ?? '').matchAll(/\]: seq-msg-(\d+)-x/g)].map((m) => Number(m[1]))
    await waitFor(() => typedOf().filter((x) => x === 9).length === 2, 'cat printed the last line back')
    const typed = typedOf()
    // cat echoes the typed line, then prints it again: every message exactly twice, in order
    const firsts = typed.filter((x, i) => typed.indexOf(x) === i)
    expect(firsts).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    for (let i = 0; i < 10; i++) expect(typed.filter((x) => x === i)).toHaveLength(2)
  })

  it('reuses its cached node token after a restart and does not type an acked message again', async () => {
    const w = await world()
    const stateDir = tempDir('node')
    const first = brokerFor(w, stateDir)
    await first.broker.start()
    await connected(first.broker)
    await first.broker.spawn({ name: 'catty', command: 'cat', cwd: '/tmp' })
    const bob = await w.api.ensureAgent(w.key, 'bob')
    const m1 = await w.api.sendDm(bob.token, { to: 'catty', text: 'before-restart' })
    await waitFor(async () => (await deliveries(w, m1.message.id)).some((d) => d.status === 'acked'), 'm1 acked')
    await first.broker.stop()

    expect(first.logs).toContain('node token from minted')
    const tokenFile = tokenCachePath(join(stateDir, 'node-tokens'), first.broker.identity.nodeId)
    const cached = readFileSync(tokenFile, 'utf8')
    const second = brokerFor(w, stateDir)
    await second.broker.start()
    await connected(second.broker)
    expect(second.logs).toContain('node token from cache')
    expect(readFileSync(tokenFile, 'utf8')).toBe(cached)
    await second.broker.spawn({ name: 'catty', command: 'cat', cwd: '/tmp' })
    const m2 = await w.api.sendDm(bob.token, { to: 'catty', text: 'after-restart' })
    await waitFor(async () => (await deliveries(w, m2.message.id)).some((d) => d.status === 'acked'), 'm2 acked')
    // The UI output is batched (~16 ms): wait for the text rather than read it at the ack.
    await waitFor(() => second.output.get('catty')?.includes('after-restart'), 'm2 in the PTY output')
    expect(second.output.get('catty')).not.toContain('before-restart')
    expect(second.output.get('catty')).toContain('after-restart')
  })

  it('reconnects after the engine restarts and delivers what was sent while it was away', async () => {
    const { w, n } = await nodeWithCat()
    const bob = await w.api.ensureAgent(w.key, 'bob')
    const port = w.engine.port
    await w.engine.close()
    await waitFor(() => n.broker.state.state !== 'connected', 'broker noticed the drop')
    const again = await startEngine({ port, dataDir: w.engineDir })
    cleanups.push(() => again.close())
    const m = await w.api.sendDm(bob.token, { to: 'catty', text: 'while-away' })
    await waitFor(() => n.broker.state.state === 'connected', 'reconnected', 15_000)
    await waitFor(() => n.output.get('catty')?.includes('while-away'), 'delivered after reconnect', 15_000)
    await waitFor(async () => (await deliveries(w, m.message.id)).some((d) => d.status === 'acked'), 'acked after reconnect')
  })

  it('refuses to spawn a missing command or a taken name with a clear error', async () => {
    const w = await world()
    const n = brokerFor(w)
    await n.broker.start()
    await connected(n.broker)
    await expect(n.broker.spawn({ name: 'x', command: 'no-such-cli-xyz' })).rejects.toThrow('command not found: no-such-cli-xyz')
    await n.broker.spawn({ name: 'x', command: 'cat', cwd: '/tmp' })
    await expect(n.broker.spawn({ name: 'x', command: 'cat', cwd: '/tmp' })).rejects.toThrow(/already running/)
    await expect(n.broker.spawn({ name: 'y', command: 'cat', cwd: '/definitely/missing' })).rejects.toThrow(/working directory does not exist/)
  })
})
