/**
 * Guards the peer benchmark's machinery in `npm test`: the marker counting, the real
 * broker harness (test/support/real-broker.ts) really typing into `cat` on our engine,
 * and both bench targets delivering a few messages exactly once.
 */
import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { MarkerTracker, marker, runBurst, runSingle, startOurs, startReal, type PeerTarget } from './peer'
import { realBrokerAvailability } from '../support/real-broker'
import { waitFor } from '../support/wait'

describe('MarkerTracker', () => {
  it('counts each marker once per occurrence, across chunk boundaries, with times', () => {
    const t = new MarkerTracker()
    const a = marker('s', 0, 1)
    const b = marker('s', 0, 12)
    t.feed('x', `hello ${a.slice(0, 4)}`, 1)
    t.feed('x', `${a.slice(4)} and ${b}\r\n`, 2)
    t.feed('x', `${a}${b.slice(0, 9)}`, 3)
    t.feed('x', `${b.slice(9)}`, 4)
    expect(t.markers.get(a)).toEqual({ count: 2, at: [2, 3] })
    expect(t.markers.get(b)).toEqual({ count: 2, at: [2, 4] })
    const c = t.check([{ agent: 'x', marker: a }, { agent: 'x', marker: b }, { agent: 'x', marker: marker('s', 0, 3) }])
    expect(c).toMatchObject({ expected: 3, exact: 2, missing: [marker('s', 0, 3)] })
  })

  it('waits for the n-th occurrence, bounded', async () => {
    const t = new MarkerTracker()
    const mk = marker('b', 1, 7)
    const second = t.wait(mk, 2, 1000)
    t.feed('y', mk, 10)
    t.feed('y', `\r\n${mk}`, 20)
    await expect(second).resolves.toBe(20)
    await expect(t.wait(marker('b', 1, 8), 1, 20)).resolves.toBeUndefined()
  })
})

const avail = realBrokerAvailability()
const targets: PeerTarget[] = []
afterEach(async () => {
  await Promise.all(targets.splice(0).map((t) => t.stop()))
})

describe('peer bench targets (5 messages each way)', () => {
  it('our broker types each message exactly once into cat', async () => {
    const t = await startOurs()
    targets.push(t)
    await t.spawnCat('cat-a')
    const single = await runSingle(t, 'cat-a', 0, 5, { gapMs: 0, timeoutMs: 5000 })
    expect(single.timeouts).toBe(0)
    expect(single.correctness).toMatchObject({ expected: 5, exact: 5, missing: [], once: [], duplicated: [] })
    expect(single.sendToRaw).toHaveLength(5)
    const burst = await runBurst(t, ['cat-a'], 5, { scenario: 'b', timeoutMs: 5000 })
    expect(burst.appeared).toBe(5)
    expect(burst.correctness.exact).toBe(5)
  })

  it.skipIf(!avail.ok)(
    `the real agent-relay broker types into cat on our engine, and the harness kills it${avail.ok ? '' : ` — SKIPPED: ${avail.reason}`}`,
    async () => {
      const t = await startReal()
      targets.push(t)
      await t.spawnCat('cat-r')
      const spawned = await t.broker.api('GET', '/api/spawned')
      expect(spawned.status).toBe(200)
      const workerPid = (spawned.json as { agents: Array<{ name: string; workerPid?: number }> }).agents.find((a) => a.name === 'cat-r')?.workerPid
      const single = await runSingle(t, 'cat-r', 0, 5, { gapMs: 0, timeoutMs: 5000 })
      expect(single.timeouts).toBe(0)
      expect(single.correctness).toMatchObject({ expected: 5, exact: 5, missing: [], once: [], duplicated: [] })
      const burst = await runBurst(t, ['cat-r'], 5, { scenario: 'b', timeoutMs: 8000 })
      expect(burst.appeared).toBe(5)
      expect(burst.correctness.exact).toBe(5)
      // the real broker acks before typing, so the ack is not what was measured: the text was seen
      expect(t.visible.output('cat-r')).toContain(`peer bench ${marker('s', 0, 4)}`)

      const pid = t.broker.child.pid as number
      const home = t.broker.home
      await t.stop()
      targets.splice(targets.indexOf(t), 1)
      expect(t.broker.exited).toBe(true)
      expect(existsSync(`/proc/${pid}`)).toBe(false)
      if (workerPid) await waitFor(() => !existsSync(`/proc/${workerPid}`), `cat's worker ${workerPid} to be gone`, 3000)
      expect(existsSync(home)).toBe(false)
    },
  )
})
