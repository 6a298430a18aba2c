/**
 * The NOTIFY envelope of the PostgreSQL cluster bus: events are packed into payloads under
 * PostgreSQL's 8000-byte limit (a long agent or row list is split, nothing dropped), and a
 * payload that is not ours is ignored instead of throwing inside the listener.
 */
import { describe, expect, it } from 'vitest'
import type { ClusterEvent } from '../../electron/engine/cluster/bus'
import { MAX_PAYLOAD_BYTES, packEvents, parseEnvelope } from '../../electron/engine/cluster/pg-bus'
import type { DeliveryRow } from '../../electron/engine/store/types'

const agents = (n: number) => Array.from({ length: n }, (_, i) => `agt_${String(i).padStart(24, '0')}`)
const row = (i: number): DeliveryRow => ({
  id: `dlv_${i}`, workspaceId: 'ws_1', messageId: `msg_${i}`, agentId: 'agt_1', seq: i, status: 'acked', mode: 'wait', expiresAt: 1,
  deliveredAt: 1, ackedAt: 2, deadLetteredAt: null, reason: null, failedAt: null, createdAt: 0,
})

describe('cluster bus envelope', () => {
  it('packs small events into one payload, in order, tagged with the instance', () => {
    const events: ClusterEvent[] = [{ k: 'mail', agents: ['a', 'b'] }, { k: 'node.attached', node: 'n1' }, { k: 'users' }]
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
    expect(() => packEvents('eng_1', [{ k: 'node.attached', node: 'n'.repeat(MAX_PAYLOAD_BYTES) }])).toThrow(/too large/)
  })

  it('ignores payloads that are not an envelope', () => {
    for (const bad of ['', 'not json', '[]', '{"i":1,"e":[]}', '{"i":"x"}', 'null']) expect(parseEnvelope(bad)).toBeUndefined()
    expect(parseEnvelope('{"i":"x","e":[1,null,{"k":"users"},{"nok":1}]}')).toEqual({ i: 'x', e: [{ k: 'users' }] })
  })
})
