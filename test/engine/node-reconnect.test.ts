// What a broker sees after a socket drop or an engine restart: its agents' presence, and the
// seqs of a legacy node (no relay:delivery-cursor-v1) that kept its in-memory cursor.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { api, NodeClient, seedWorld, startTestEngine, waitFor, type Frame, type Harness, type World } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function connect(url: string, w: World): Promise<NodeClient> {
  const node = await NodeClient.connect(url, w.nodeToken)
  clients.push(node)
  await node.register(w.nodeName, w.nodeId)
  return node
}
const agentStatus = async (url: string, w: World, name: string) => (await api(url, 'GET', `/v1/agents/${name}`, { token: w.wsKey })).body.data.status
const dm = (url: string, w: World, text: string) => api(url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'bob', text } })
const deliverOf = (text: string) => (f: Frame) => f.type === 'deliver' && JSON.stringify(f.payload).includes(text)

describe('a node that reconnects', () => {
  it('after an engine restart, node.register alone brings its agents back online; a released agent stays offline', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-reconnect-'))
    dirs.push(dataDir)
    h = await startTestEngine({}, dataDir)
    const w = await seedWorld(h.url)
    const first = await connect(h.url, w)
    await first.registerAgent('bob')
    const carol = await first.registerAgent('carol')
    first.send({ type: 'agent.deregister', v: 1, agent_id: carol.data.agent_id })
    await waitFor(async () => (await agentStatus(h!.url, w, 'carol')) === 'offline', 3000, 'carol released')
    expect(await agentStatus(h.url, w, 'bob')).toBe('active')

    // SIGTERM-like: the engine closes every socket (which marks the node's agents offline).
    await h.engine.close('restart')
    h = await startTestEngine({}, dataDir)
    expect(await agentStatus(h.url, w, 'bob')).toBe('offline')
    // The upstream broker re-sends node.register and no agent.register after a reconnect.
    await connect(h.url, w)
    await waitFor(async () => (await agentStatus(h!.url, w, 'bob')) === 'active', 3000, 'bob back online')
    expect(await agentStatus(h.url, w, 'carol')).toBe('offline')
  })

  it('a legacy broker that keeps its cursor and re-sends agent.register gets the next seq, so the message is typed', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const first = await connect(h.url, w)
    await first.registerAgent('bob')
    await dm(h.url, w, 'one')
    await dm(h.url, w, 'two')
    await first.next((f) => f.type === 'deliver' && f.seq === 2)
    first.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 2 })
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/agents/bob`, { token: w.wsKey })).status === 200)
    await first.close()

    // Same broker process (cursor for bob = 2), new socket; it registers bob again.
    const again = await connect(h.url, w)
    await again.registerAgent('bob')
    await dm(h.url, w, 'three')
    const three = await again.next(deliverOf('three'))
    // Seq 1 here would be Stale to a broker whose cursor is 2: acked, never typed.
    expect(three.seq).toBe(3)
  })

  it('a fresh legacy broker (no cursor) answers the next seq with a Gap ack of 0: the engine sends the message again as seq 1', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const first = await connect(h.url, w)
    const bob = await first.registerAgent('bob')
    await dm(h.url, w, 'one')
    await dm(h.url, w, 'two')
    await first.next((f) => f.type === 'deliver' && f.seq === 2)
    first.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 2 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agent', { token: bob.data.token })).body.data.pending_deliveries === 0)
    await first.close()

    // A restarted broker: no cursor for bob. Two messages in flight, each answered Gap(0).
    const fresh = await connect(h.url, w)
    const bob2 = await fresh.registerAgent('bob')
    await dm(h.url, w, 'three')
    await dm(h.url, w, 'four')
    const three = await fresh.next(deliverOf('three'))
    const four = await fresh.next(deliverOf('four'))
    expect([three.seq, four.seq]).toEqual([3, 4])
    const from = fresh.frames.length
    fresh.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 0 })
    fresh.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 0 })
    const resent3 = await fresh.next(deliverOf('three'), 3000, from)
    const resent4 = await fresh.next(deliverOf('four'), 3000, from)
    expect([resent3.seq, resent4.seq]).toEqual([1, 2])
    // The broker types them as 1 and 2 and acks 2: both are acked, nothing else is resent.
    fresh.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 2 })
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agent', { token: bob2.data.token })).body.data.pending_deliveries === 0, 3000, 'both acked')
    // A late Gap ack (from a frame sent before the rebase) must not rebase again once the
    // broker has shown it holds a cursor.
    fresh.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 0 })
    await dm(h.url, w, 'five')
    const five = await fresh.next(deliverOf('five'), 3000, from)
    expect(five.seq).toBe(3)
  })
})
