/**
 * The NOTIFY envelope of the PostgreSQL cluster bus: events are packed into payloads under
 * PostgreSQL's 8000-byte limit (a long agent or row list is split, nothing dropped), and a
 * payload that is not ours is ignored instead of throwing inside the listener. On a real
 * PostgreSQL: the listener connection dropped by the server comes back, tells the engine to
 * resync, and the sweep lead moves to the other instance meanwhile.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClusterEvent } from '../../electron/engine/cluster/bus'
import { MAX_PAYLOAD_BYTES, openPgBus, packEvents, parseEnvelope } from '../../electron/engine/cluster/pg-bus'
import { createPool, migratePg } from '../../electron/engine/store/pg'
import { postgresAvailability, usePostgres, type PostgresCluster } from '../support/postgres'
import { waitFor } from './helpers'
import type { DeliveryRow } from '../../electron/engine/store/types'

const agents = (n: number) => Array.from({ length: n }, (_, i) => `agt_${String(i).padStart(24, '0')}`)
const row = (i: number): DeliveryRow => ({
  id: `dlv_${i}`, workspaceId: 'ws_1', messageId: `msg_${i}`, agentId: 'agt_1', seq: i, status: 'acked', mode: 'wait', expiresAt: 1,
  deliveredAt: 1, ackedAt: 2, deadLetteredAt: null, reason: null, failedAt: null, createdAt: 0,
})

describe('cluster bus envelope', () => {
  it('packs small events into one payload, in order, tagged with the instance', () => {
    const events: ClusterEvent[] = [{ k: 'mail', agents: ['a', 'b'] }, { k: 'node.attached', node: 'n1', socket: 'conn_1' }, { k: 'users' }]
    const out = packEvents('eng_1', events)
    expect(out).toHaveLength(1)
    expect(parseEnvelope(out[0] as string)).toEqual({ i: 'eng_1', e: events })
  })

  it('splits a long agent list and a long row list across payloads under the limit, losing nothing', () => {
    const many = agents(2000)
    const rows = Array.from({ length: 300 }, (_, i) => row(i))
    const out = packEvents('eng_1', [{ k: 'mail', agents: many }, { k: 'updated', rows }, { k: 'replay', agents: ['x'] }])
    expect(out.length).toBeGreaterThan(2)
    for (const p of out) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
    const events = out.flatMap((p) => parseEnvelope(p)?.e ?? [])
    expect(events.flatMap((e) => (e.k === 'mail' ? e.agents : []))).toEqual(many)
    expect(events.flatMap((e) => (e.k === 'updated' ? e.rows : []))).toEqual(rows)
    expect(events.at(-1)).toEqual({ k: 'replay', agents: ['x'] })
  })

  it('refuses loudly an event that cannot be split to fit (never drops it silently)', () => {
    expect(() => packEvents('eng_1', [{ k: 'node.attached', node: 'n'.repeat(MAX_PAYLOAD_BYTES), socket: 'conn_1' }])).toThrow(/too large/)
  })

  it('ignores payloads that are not an envelope', () => {
    for (const bad of ['', 'not json', '[]', '{"i":1,"e":[]}', '{"i":"x"}', 'null']) expect(parseEnvelope(bad)).toBeUndefined()
    expect(parseEnvelope('{"i":"x","e":[1,null,{"k":"users"},{"nok":1}]}')).toEqual({ i: 'x', e: [{ k: 'users' }] })
  })
})

const pgAvailability = postgresAvailability()
const pgNote = pgAvailability.ok ? '' : ` (skipped: ${pgAvailability.reason})`

describe.skipIf(!pgAvailability.ok)(`cluster bus on PostgreSQL${pgNote}`, () => {
  let cluster: PostgresCluster | undefined
  const closers: Array<() => Promise<unknown>> = []
  beforeAll(async () => {
    cluster = await usePostgres()
  }, 60_000)
  afterAll(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined)
    await cluster?.stop()
  }, 60_000)

  async function bus(url: string, id: string) {
    const pool = createPool(url)
    closers.push(() => pool.end())
    const events: ClusterEvent[] = []
    const logs: string[] = []
    const b = await openPgBus(url, pool, id, (_l, msg) => logs.push(msg), { leaderRetryMs: 50 })
    closers.push(() => b.close())
    b.subscribe((e) => events.push(e))
    return { b, events, logs }
  }

  async function terminateListener(url: string, instanceId: string): Promise<number> {
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    try {
      const r = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`relay-engine:${instanceId}`])
      return r.rowCount ?? 0
    } finally {
      await admin.end()
    }
  }

  it('events reach the other instance, not the sender; a dropped listener comes back, says resync, and the lead moves while it is away', async () => {
    const url = await cluster!.createDatabase({ prefix: 'bus' })
    const pool = createPool(url)
    await migratePg(pool)
    await pool.end()
    const a = await bus(url, 'eng_a')
    const b = await bus(url, 'eng_b')
    await waitFor(() => a.b.isLeader() !== b.b.isLeader(), 5000, 'one leader')
    a.b.publish({ k: 'mail', agents: ['agt_1'] })
    await waitFor(() => b.events.some((e) => e.k === 'mail'), 5000, 'b hears a')
    expect(a.events).toEqual([])

    const leader = a.b.isLeader() ? a : b
    const follower = leader === a ? b : a
    expect(await terminateListener(url, leader.b.instanceId)).toBe(1)
    // Its session (and the lock) went: it stops leading at once, listens again and resyncs, and
    // the lock is taken again by one of the two (usually the follower, whose retry comes first).
    await waitFor(() => leader.events.some((e) => e.k === 'resync'), 5000, 'resync after the reconnect')
    expect(leader.logs.join('\n')).toMatch(/leadership lost/)
    await waitFor(() => a.b.isLeader() !== b.b.isLeader(), 5000, 'one leader again')
    follower.b.publish({ k: 'replay', agents: ['agt_2'] })
    await waitFor(() => leader.events.some((e) => e.k === 'replay'), 5000, 'listening again')
    expect(leader.logs.join('\n')).toMatch(/listening again/)
  }, 30_000)
})
