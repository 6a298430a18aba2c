/**
 * The real agent-relay broker 9.1.6 (the published linux-x64 binary) runs on our
 * engine (../shared/reference/relay-broker-interop.md): it enrols, connects the node
 * socket, spawns `cat` through its local API, a DM sent over our REST reaches cat's PTY
 * and our engine records the ack; after SIGTERM (release) and a restart on the same
 * HOME it reuses its node token (no second POST /v1/nodes) and nothing is delivered
 * twice, while a new message after the restart still arrives (fresh broker session,
 * seq rebased to 1 by the engine).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { api, startTestEngine, waitFor, type Harness } from '../engine/helpers'
import { realBrokerAvailability, startRealBroker, type RealBroker } from '../support/real-broker'

const availability = realBrokerAvailability()
const skipReason = availability.ok ? '' : availability.reason

let h: Harness | undefined
const brokers: RealBroker[] = []
const dirs: string[] = []
const nodeMints: string[] = []

async function stopAll(): Promise<void> {
  await Promise.all(brokers.splice(0).map((b) => b.stop()))
}
afterEach(stopAll) // also on failure: no broker or PTY outlives a test
afterAll(async () => {
  await stopAll()
  await h?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe.skipIf(!availability.ok)(`real agent-relay broker on our engine${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('spawn cat, DM typed into its PTY, ack recorded; restart on the same HOME reuses the node token, no duplicate', async () => {
    h = await startTestEngine({
      // Count enrolments (POST /v1/nodes mints or rotates a node token).
      log: (_level, msg, extra) => {
        if (msg === 'node enrolled' || msg === 'node token rotated') nodeMints.push(String(extra?.node_id))
      },
    })
    const ws = await api(h.url, 'POST', '/v1/workspaces', { body: { name: 'interop' } })
    const key = ws.body.data.api_key as string
    const home = mkdtempSync(join(tmpdir(), 'relay-interop-home-'))
    dirs.push(home)
    const name = 'interop-node'

    const first = await startRealBroker({ engineUrl: h.url, workspaceKey: key, name, home, apiKey: 'br_test_interop_1' })
    brokers.push(first)
    expect(nodeMints).toHaveLength(1)
    const nodeId = nodeMints[0]
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/nodes/${name}`, { token: key })).body.data?.live, 10_000, 'node live')

    await first.spawn('cat1', 'cat')
    const alice = await api(h.url, 'POST', '/v1/agents', { token: key, body: { name: 'alice' } })
    const aliceToken = alice.body.data.token as string
    const one = await api(h.url, 'POST', '/v1/dm', { token: aliceToken, body: { to: 'cat1', text: 'interop-one-7f3a' } })
    expect(one.status).toBe(201)
    await waitFor(() => first.output('cat1').includes('interop-one-7f3a'), 15_000, 'first DM typed into cat')
    const acked = await waitFor(async () => {
      const rows = (await api(h!.url, 'GET', `/v1/messages/${one.body.data.message.id}/deliveries`, { token: key })).body.data
      return rows[0]?.status === 'acked' ? rows[0] : undefined
    }, 10_000, 'engine recorded the ack')
    expect(acked).toMatchObject({ agent_name: 'cat1', seq: 1 })

    // SIGTERM: it releases its agents at the engine, then drops the socket.
    await first.stop()
    await waitFor(async () => (await api(h!.url, 'GET', '/v1/agents/cat1', { token: key })).body.data.status === 'offline', 10_000, 'cat1 released')

    const second = await startRealBroker({ engineUrl: h.url, workspaceKey: key, name, home, apiKey: 'br_test_interop_2' })
    brokers.push(second)
    await waitFor(async () => (await api(h!.url, 'GET', `/v1/nodes/${name}`, { token: key })).body.data?.live, 10_000, 'node live again')
    // Same node id, token reused from its cache: no second enrolment.
    expect(nodeMints).toEqual([nodeId])
    await second.spawn('cat1', 'cat')
    const two = await api(h.url, 'POST', '/v1/dm', { token: aliceToken, body: { to: 'cat1', text: 'interop-two-9c1d' } })
    expect(two.body.data.delivery.seq).toBe(2)
    await waitFor(() => second.output('cat1').includes('interop-two-9c1d'), 15_000, 'second DM typed after restart')
    await waitFor(async () => {
      const rows = (await api(h!.url, 'GET', `/v1/messages/${two.body.data.message.id}/deliveries`, { token: key })).body.data
      return rows[0]?.status === 'acked'
    }, 10_000, 'second ack recorded')
    // Nothing delivered twice: the acked first message never reached the new broker.
    expect(second.output('cat1')).not.toContain('interop-one-7f3a')
    const firstIdSeen = second.events().some((e) => JSON.stringify(e).includes(one.body.data.message.id))
    expect(firstIdSeen).toBe(false)
    const cat = (await api(h.url, 'GET', '/v1/agents/cat1', { token: key })).body.data
    expect(cat).toMatchObject({ delivery_seq: 2, delivery_ack_seq: 2, pending_deliveries: 0 })
  }, 60_000)
})
