/**
 * A burst through the real agent-relay broker 9.1.6 on our engine
 * (../shared/reference/relay-broker-interop.md): 200 DMs sent back to back into one
 * `cat` agent, typed at the broker's own pace (≈ 6 per second). Every message must
 * appear exactly twice in cat's PTY output — the tty echo of the typed text and cat's
 * copy once Enter arrived — none lost, none typed twice; and the engine must have every
 * delivery acked, in order, with nothing left pending.
 *
 * The broker acks each frame before typing it, so the acks say nothing about the PTY:
 * the test waits (bounded, event driven, no sleeps) until the broker has finished with
 * every delivery — its `delivery_verified` event comes after the text and Enter were
 * written (by echo, or its 5 s fallback — with `cat` always the fallback, on any engine
 * and for a single message too: the PTY echoes the injection's `\n` as `\r\n`, which
 * its match on the whole injection apparently never accepts) —
 * and until every marker showed twice. Only then is anything counted.
 *
 * The PTY output is read from the broker's `/ws` `worker_stream` events. That stream is
 * a lossy broadcast ("dashboard WS client lagged, skipped messages" in its log when a
 * reader falls behind): a skip there is an observation loss, not a delivery loss, and
 * the test says so instead of blaming the engine.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { api, startTestEngine, waitFor, type Harness } from '../engine/helpers'
import { realBrokerAvailability, startRealBroker, type RealBroker, type RealBrokerEvent } from '../support/real-broker'

const availability = realBrokerAvailability()
const skipReason = availability.ok ? '' : availability.reason

const COUNT = 200
/** `MKB` + 4 digits + `Z`: fixed length, upper case (ids in the injected text are lower-case hex). */
const marker = (i: number) => `MKB${String(i).padStart(4, '0')}Z`
const MARKER_RE = /MKB\d{4}Z/g
const MARKER_LEN = 8

/** Counts markers in one agent's PTY stream as chunks arrive (a marker may straddle two chunks). */
class MarkerCounter {
  text = ''
  private scanPos = 0
  readonly counts = new Map<string, number>()

  feed(chunk: string): void {
    this.text += chunk
    MARKER_RE.lastIndex = this.scanPos
    let lastEnd = 0
    for (let m = MARKER_RE.exec(this.text); m; m = MARKER_RE.exec(this.text)) {
      this.counts.set(m[0], (this.counts.get(m[0]) ?? 0) + 1)
      lastEnd = m.index + m[0].length
    }
    // Rescan only where a marker cut by the chunk boundary can start.
    this.scanPos = Math.max(lastEnd, this.text.length - MARKER_LEN + 1, this.scanPos)
  }
}

/** Resolves once `cond()` holds, re-checked on every broker event; rejects after `timeoutMs`. */
function until(rb: RealBroker, cond: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
  if (cond()) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`))
    }, timeoutMs)
    const off = rb.on(() => {
      if (!cond()) return
      clearTimeout(timer)
      off()
      resolve()
    })
  })
}

let h: Harness | undefined
const brokers: RealBroker[] = []
const dirs: string[] = []

afterEach(async () => {
  // Also on failure: no broker or PTY outlives a test (stop also removes its state dir).
  await Promise.all(brokers.splice(0).map((b) => b.stop()))
})
afterAll(async () => {
  await h?.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe.skipIf(!availability.ok)(`real agent-relay broker on our engine, burst${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it(`${COUNT} DMs back to back into one cat: every one typed exactly once (echo + cat's copy), all acked in order`, async () => {
    h = await startTestEngine()
    const ws = await api(h.url, 'POST', '/v1/workspaces', { body: { name: 'interop-burst' } })
    const key = ws.body.data.api_key as string
    const home = mkdtempSync(join(tmpdir(), 'relay-interop-burst-'))
    dirs.push(home)
    const rb = await startRealBroker({ engineUrl: h.url, workspaceKey: key, name: 'burst-node', home, apiKey: 'br_test_interop_burst' })
    brokers.push(rb)
    await rb.spawn('cat1', 'cat')

    const out = new MarkerCounter()
    const deliveries = new Map<string, { queued: number; injected: number; verified: number }>()
    const bump = (e: RealBrokerEvent, k: 'queued' | 'injected' | 'verified') => {
      const id = String(e.delivery_id)
      const d = deliveries.get(id) ?? { queued: 0, injected: 0, verified: 0 }
      d[k]++
      deliveries.set(id, d)
    }
    rb.on((e) => {
      if (e.name !== 'cat1') return
      if (e.kind === 'worker_stream' && typeof e.chunk === 'string') out.feed(e.chunk)
      else if (e.kind === 'delivery_queued') bump(e, 'queued')
      else if (e.kind === 'delivery_injected') bump(e, 'injected')
      else if (e.kind === 'delivery_verified') bump(e, 'verified')
    })

    const alice = await api(h.url, 'POST', '/v1/agents', { token: key, body: { name: 'alice' } })
    const aliceToken = alice.body.data.token as string
    const messageIds: string[] = []
    for (let i = 0; i < COUNT; i++) {
      const r = await api(h.url, 'POST', '/v1/dm', { token: aliceToken, body: { to: 'cat1', text: `burst ${marker(i)} look` } })
      expect(r.status, `POST /v1/dm #${i}`).toBe(201)
      messageIds.push(r.body.data.message.id as string)
    }

    // The engine: all delivered and acked (the broker acks each frame 1–2 ms after it,
    // before typing; a frame it saw out of order is acked at the old cursor, not typed).
    let engineSide: unknown
    await waitFor(async () => {
      const a = (await api(h!.url, 'GET', '/v1/agents/cat1', { token: key })).body.data
      engineSide = { delivery_seq: a?.delivery_seq, delivery_ack_seq: a?.delivery_ack_seq, pending_deliveries: a?.pending_deliveries }
      return a?.delivery_ack_seq === COUNT && a?.pending_deliveries === 0
    }, 30_000, `the engine to record ${COUNT} acks for cat1`).catch((err: Error) => {
      throw new Error(`${err.message}; cat1 at the engine: ${JSON.stringify(engineSide)}; broker events so far: ${deliveries.size} deliveries queued`)
    })

    // The PTY: the broker is done with every delivery, and every marker showed twice.
    const twice = () => {
      let n = 0
      for (let i = 0; i < COUNT; i++) if ((out.counts.get(marker(i)) ?? 0) >= 2) n++
      return n
    }
    const verified = () => [...deliveries.values()].filter((d) => d.verified > 0).length
    // On a timeout, fall through: the per-marker report below says exactly what is missing.
    const waited = await until(rb, () => verified() >= COUNT && twice() === COUNT, () => `${COUNT} deliveries verified (have ${verified()}) and every marker twice on cat's PTY (have ${twice()})`, 120_000).then(
      () => 'done',
      (err: Error) => err.message,
    )

    const lagged = rb.log().match(/lagged[^\n]*/g) ?? []
    expect(lagged, "the broker's /ws skipped events: the PTY output was not fully observed (observation loss, not a delivery loss)").toEqual([])

    // Counted afresh on the whole output.
    const wrong: string[] = []
    for (let i = 0; i < COUNT; i++) {
      const n = out.text.split(marker(i)).length - 1
      if (n !== 2) wrong.push(`${marker(i)}×${n}`)
    }
    expect(wrong, `markers not exactly twice on cat's PTY (×0 lost, ×1 no Enter or merged, ×3+ typed twice); wait: ${waited}`).toEqual([])
    expect(waited).toBe('done')

    // The broker typed each delivery once: one queued/injected/verified per delivery id.
    expect(deliveries.size).toBe(COUNT)
    const notOnce = [...deliveries.entries()].filter(([, d]) => d.queued !== 1 || d.injected !== 1 || d.verified !== 1)
    expect(notOnce).toEqual([])

    // Order: the markers first show (the echo of the typed text) in send order.
    const order = [...out.text.matchAll(MARKER_RE)].map((m) => Number(m[0].slice(3, 7)))
    const firstSeen: number[] = []
    for (const i of order) if (!firstSeen.includes(i)) firstSeen.push(i)
    expect(firstSeen).toEqual(Array.from({ length: COUNT }, (_, i) => i))

    // The engine side: the last message went out as seq COUNT and is acked; nothing pending.
    const last = (await api(h.url, 'GET', `/v1/messages/${messageIds[COUNT - 1]}/deliveries`, { token: key })).body.data
    expect(last[0]).toMatchObject({ agent_name: 'cat1', seq: COUNT, status: 'acked' })
    const cat = (await api(h.url, 'GET', '/v1/agents/cat1', { token: key })).body.data
    expect(cat).toMatchObject({ delivery_seq: COUNT, delivery_ack_seq: COUNT, pending_deliveries: 0 })
  }, 180_000)
})
