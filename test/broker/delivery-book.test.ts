import { describe, expect, it } from 'vitest'
import { DeliveryBook, SeenIds, SEEN_CAPACITY } from '../../electron/broker/delivery-book'

describe('delivery book (node-protocol §4.2–§4.5)', () => {
  it('follows the fresh-agent trace: 1, 2, dup 2, gap 4, seq 0', () => {
    const b = new DeliveryBook()
    expect(b.accept('r', 1, 'm1')).toEqual({ kind: 'deliver', seq: 1 })
    expect(b.commit('r', 1, 'm1')).toBe(1)
    expect(b.accept('r', 2, 'm2')).toEqual({ kind: 'deliver', seq: 2 })
    expect(b.commit('r', 2, 'm2')).toBe(2)
    expect(b.accept('r', 2, 'm2')).toEqual({ kind: 'duplicate', cursor: 2 })
    expect(b.accept('r', 4, 'm4')).toEqual({ kind: 'gap', cursor: 2 })
    expect(b.accept('r', 0, 'a1')).toEqual({ kind: 'deliver', seq: 0 })
    expect(b.commit('r', 0, 'a1')).toBe(2)
  })

  it('a first frame with seq > 1 is a gap acked at 0', () => {
    expect(new DeliveryBook().accept('r', 2, 'm2')).toEqual({ kind: 'gap', cursor: 0 })
  })

  it('§8 #6: a replayed seq 0 msg id is a duplicate and keeps the cursor', () => {
    const b = new DeliveryBook()
    b.accept('r', 0, 'a1')
    b.commit('r', 0, 'a1')
    expect(b.accept('r', 0, 'a1')).toEqual({ kind: 'duplicate', cursor: 0 })
  })

  it('accepts the next seq while the previous one is still queued for typing', () => {
    const b = new DeliveryBook()
    expect(b.accept('r', 1, 'm1').kind).toBe('deliver')
    expect(b.accept('r', 2, 'm2').kind).toBe('deliver')
    expect(b.accept('r', 1, 'm1').kind).toBe('duplicate')
    expect(b.commit('r', 1, 'm1')).toBe(1)
    expect(b.commit('r', 2, 'm2')).toBe(2)
  })

  it('§8 #10: a failed injection leaves the cursor and lets the redelivery in again', () => {
    const b = new DeliveryBook()
    b.accept('r', 1, 'm1')
    b.commit('r', 1, 'm1')
    b.accept('r', 2, 'm2')
    b.accept('r', 3, 'm3')
    b.release('r', 2, 'm2')
    expect(b.cursor('r')).toBe(1)
    expect(b.accept('r', 2, 'm2')).toEqual({ kind: 'deliver', seq: 2 })
  })

  it('a seeded cursor (engine delivery_ack_seq) makes acked seqs stale and the next one in order', () => {
    const b = new DeliveryBook()
    b.seed('r', 5)
    expect(b.accept('r', 5, 'm5')).toEqual({ kind: 'stale', cursor: 5 })
    expect(b.accept('r', 6, 'm6')).toEqual({ kind: 'deliver', seq: 6 })
  })

  it('§8 #35: after forget (release + respawn) and a seed, seq > 1 is not a gap', () => {
    const b = new DeliveryBook()
    b.accept('r', 1, 'm1')
    b.commit('r', 1, 'm1')
    b.forget('r')
    b.seed('r', 1)
    expect(b.accept('r', 2, 'm2')).toEqual({ kind: 'deliver', seq: 2 })
  })

  it('§8 #9: the seen set holds at most 512 ids, oldest evicted first', () => {
    const s = new SeenIds()
    for (let i = 0; i <= SEEN_CAPACITY; i++) s.add(`m${i}`)
    expect(s.size).toBe(SEEN_CAPACITY)
    expect(s.has('m0')).toBe(false)
    expect(s.has('m1')).toBe(true)
    s.add('m1') // re-insert is a no-op: m1 stays the oldest
    s.add('new')
    expect(s.has('m1')).toBe(false)
  })
})
