/**
 * Faults the real engine cannot be made to produce on demand, driven by the fake engine.
 * After each: no message lost, none typed twice, none typed into the wrong agent, and
 * the broker still works (a fresh message goes through).
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { BrokerOptions } from '../../electron/broker'
import { startFakeEngine, type FakeEngine } from './fake-engine'
import { makeNode, markers, type Node } from './harness'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

async function setup(opts: Partial<BrokerOptions> = {}) {
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  // quietcat turns echo off, then prints READY: "ready" = first output (+ a short quiet), so
  // nothing is typed while the terminal still echoes (which would show a line twice).
  const n = makeNode(fe, { injector: { enterDelayMs: 5 }, readiness: { plain: { quietMs: 30, maxWaitMs: 5000 } }, ...opts }, cleanups)
  await n.broker.start()
  await n.connected()
  return { fe, n }
}

async function cat(n: Node, name: string): Promise<void> {
  await n.broker.spawn({ name, command: 'quietcat', cwd: '/tmp' })
  await n.waitOutput(name, 'READY')
}

const mk = (agent: string, i: number) => `fx-${agent}-${String(i).padStart(4, '0')}`

function postMany(fe: FakeEngine, agent: string, count: number, opts: { send?: boolean } = {}) {
  return Array.from({ length: count }, (_, i) => fe.post(agent, mk(agent, i), opts))
}

/** The invariants: every posted marker typed exactly once, in order, only into its agent; all acked; still works. */
async function invariants(fe: FakeEngine, n: Node, agents: string[], allOutput = false): Promise<void> {
  for (const a of agents) {
    const mailbox = fe.agents.get(a)
    const expected = (mailbox?.mail ?? []).map((m) => (m.payload as { data: { text: string } }).data.text)
    await fe.waitAcked(a, mailbox?.mail.at(-1)?.seq ?? 0, 15_000)
    const out = allOutput ? n.outputAll(a) : n.output(a)
    expect(markers(out, 'fx-[a-z0-9]+'), `markers typed into ${a}`).toEqual(expected)
  }
  for (const a of agents) {
    const m = fe.post(a, mk(a, 9999))
    await fe.waitAcked(a, m.seq)
    await n.waitOutput(a, mk(a, 9999))
  }
}

describe('fault injection (fake engine)', () => {
  it('socket dropped mid-delivery: nothing lost, nothing typed twice', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    await cat(n, 'b')
    postMany(fe, 'a', 30)
    postMany(fe, 'b', 30)
    await fe.waitAcked('a', 5)
    fe.dropSocket()
    await fe.waitAcked('b', 12)
    fe.dropSocket()
    await invariants(fe, n, ['a', 'b'])
  })

  it('the same deliver twice (and three times): typed once, acked each time', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const since = fe.frames.length
    for (const m of postMany(fe, 'a', 10, { send: false })) {
      fe.deliver('a', m)
      fe.deliver('a', m)
      fe.deliver('a', m)
    }
    await fe.waitAcked('a', 10)
    // Acked each time: every one of the 30 deliver frames got its delivery.ack (a copy is
    // answered as it arrives, the first of each after typing, so the last ack is seq 10's).
    const acks = fe.framesOf('delivery.ack', since).filter((f) => f.agent === 'a')
    expect(acks).toHaveLength(30)
    expect(acks.at(-1)?.up_to_seq).toBe(10)
    await invariants(fe, n, ['a'])
  })

  it('out-of-order seq: a later seq first is held as a gap, then typed in order when resent', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    const [m1, m2, m3, m4, m5] = postMany(fe, 'a', 5, { send: false })
    for (const m of [m1, m3, m2, m5, m4]) fe.deliver('a', m!)
    await fe.waitAcked('a', 2)
    fe.replay('a') // the engine resends from its ack
    await invariants(fe, n, ['a'])
  })

  it('401 storm while messages keep coming: recovers, delivers everything once', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    postMany(fe, 'a', 5)
    await fe.waitAcked('a', 5)
    fe.upgradeScript = [401, 401, 401, 401, 401, 401, 401]
    fe.dropSocket()
    for (let i = 5; i < 15; i++) fe.post('a', mk('a', i))
    await invariants(fe, n, ['a'])
    expect(fe.upgrades.filter((u) => u.status === 401)).toHaveLength(7)
  })

  it('a reply that never comes: the spawn fails in bounded time; the next one works; mail waits', async () => {
    const { fe, n } = await setup({ nodeClient: { registerTimeoutMs: 200, initialReconnectDelayMs: 20 } })
    fe.register = 'never'
    await expect(n.broker.spawn({ name: 'a', command: 'quietcat', cwd: '/tmp' })).rejects.toMatchObject({ code: 'agent_register_timeout' })
    postMany(fe, 'a', 3) // not bound: stays in the engine's mailbox
    fe.register = 'reply'
    await cat(n, 'a')
    await invariants(fe, n, ['a'])
  })

  it('a slow/stopped PTY: verification times out, the ack follows, and each line is read once when it wakes', async () => {
    const { fe, n } = await setup({ injector: { enterDelayMs: 5, verifyTimeoutMs: 300 } })
    await cat(n, 'a')
    const pid = n.broker.listAgents()[0]?.pid as number
    process.kill(pid, 'SIGSTOP')
    const ms = postMany(fe, 'a', 3)
    await fe.waitAcked('a', 3)
    expect(ms.map((m) => n.steps(m.msgId).find((s) => s.state === 'verified')?.verification)).toEqual(['timeout_fallback', 'timeout_fallback', 'timeout_fallback'])
    process.kill(pid, 'SIGCONT')
    await n.waitOutput('a', mk('a', 2))
    await invariants(fe, n, ['a'])
  })

  it('a PTY that dies with messages queued: no ack for those; after respawn each is typed once', async () => {
    const { fe, n } = await setup({ injector: { enterDelayMs: 5, userHoldMs: 60_000 } })
    await cat(n, 'a')
    postMany(fe, 'a', 2)
    await fe.waitAcked('a', 2)
    n.broker.writeUser('a', 'x') // hold what comes next
    for (let i = 2; i < 6; i++) fe.post('a', mk('a', i))
    await n.waitEvent((e) => e.type === 'agent.state' && e.agent.name === 'a' && e.agent.pendingInjections === 4, '4 queued')
    process.kill(n.broker.listAgents()[0]?.pid as number, 'SIGKILL')
    await n.waitEvent((e) => e.type === 'agent.state' && e.agent.name === 'a' && e.agent.status === 'exited', 'a died')
    expect(fe.agents.get('a')?.acked).toBe(2)
    await cat(n, 'a')
    await invariants(fe, n, ['a'], true)
  })

  it('never into the wrong agent: a deliver naming another agent id, or an agent not hosted here, is not typed', async () => {
    const { fe, n } = await setup()
    await cat(n, 'a')
    await cat(n, 'b')
    const stray = fe.post('b', mk('b', 7777), { send: false })
    fe.send({ ...fe.deliverFrame('b', stray), agent_id: fe.agents.get('a')?.agentId })
    fe.send({ ...fe.deliverFrame('b', stray), agent: 'zzz', agent_id: 'agt_zzz', seq: 1 })
    // the engine then sends it properly
    fe.deliver('b', stray)
    postMany(fe, 'a', 3)
    await invariants(fe, n, ['a', 'b'])
    expect(n.output('a')).not.toContain(mk('b', 7777))
  })
})
