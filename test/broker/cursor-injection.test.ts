/**
 * The persisted delivery cursor across a broker restart, the terminal sanitiser, and the
 * injector's readiness gate, suggestion handling, steer keys and auto-enter (§5).
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CursorStore } from '../../electron/broker/cursor-store'
import { sanitizeForTerminal } from '../../electron/broker/injection-format'
import { ghostSuggestionVisible, Injector, type InjectionTarget } from '../../electron/broker/injector'
import { tempDir } from '../support/wait'
import { startFakeEngine } from './fake-engine'
import { makeNode } from './harness'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

describe('persisted delivery cursor (<stateDir>/cursors.json)', () => {
  it('is written atomically (0600), debounced, never lowered, and scoped to the agent id', () => {
    const dir = tempDir('cursor')
    const path = join(dir, 'cursors.json')
    const s = new CursorStore(path, 10_000)
    s.set('ws', 'a', 'agt_1', 3)
    s.set('ws', 'a', 'agt_1', 4)
    expect(existsSync(path)).toBe(false) // debounced
    s.flush()
    expect(s.writes).toBe(1)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    s.set('ws', 'a', 'agt_1', 2) // lower: ignored
    s.flush()
    expect(s.writes).toBe(1)
    const again = new CursorStore(path)
    expect(again.get('ws', 'a', 'agt_1')).toBe(4)
    expect(again.get('ws', 'a', 'agt_2')).toBeUndefined() // re-created identity starts over
    expect(again.get('ws2', 'a', 'agt_1')).toBeUndefined()
    expect(JSON.parse(readFileSync(path, 'utf8')).v).toBe(1)
  })

  it('a restarted broker neither re-types an acked message whose ack was lost, nor skips an un-acked one', async () => {
    const fe = await startFakeEngine()
    cleanups.push(() => fe.close())
    const stateDir = tempDir('restart')
    const opts = { stateDir, readiness: { plain: { quietMs: 30, maxWaitMs: 5000 } } }
    const first = makeNode(fe, opts, cleanups)
    await first.broker.start()
    await first.connected()
    await first.broker.spawn({ name: 'a', command: 'quietcat', cwd: '/tmp' })
    await first.waitOutput('a', 'READY')
    fe.post('a', 'cur-1')
    fe.post('a', 'cur-2')
    await fe.waitAcked('a', 2)
    // The broker types seq 3 but the engine never hears the ack (lost with the socket).
    const engineAgent = fe.agents.get('a')
    const m3 = fe.post('a', 'cur-3')
    await first.waitStep(m3.msgId, 'acked')
    await fe.waitAcked('a', 3)
    if (engineAgent) engineAgent.acked = 2
    await first.broker.stop() // flushes cursors.json
    expect(JSON.parse(readFileSync(join(stateDir, 'cursors.json'), 'utf8')).agents['ws_test/a'].up_to_seq).toBe(3)

    const second = makeNode(fe, opts, cleanups)
    await second.broker.start()
    await second.connected()
    await second.broker.spawn({ name: 'a', command: 'quietcat', cwd: '/tmp' })
    await second.waitOutput('a', 'READY')
    const m4 = fe.post('a', 'cur-4') // the engine replays 3 (unacked for it), then sends 4
    await fe.waitAcked('a', 4)
    await second.waitOutput('a', 'cur-4')
    expect(second.output('a')).not.toContain('cur-3')
    expect(second.output('a').split('cur-4').length - 1).toBe(1)
    expect(second.logs.some((l) => /resuming from the local cursor 3 \(engine says 2\)/.test(l.msg))).toBe(true)
    expect(second.steps(m4.msgId).map((s) => s.state)).toContain('acked')
  })
})

describe('sanitizeForTerminal', () => {
  it('strips ESC sequences (CSI, OSC, DCS, bracketed paste) and C0/C1 controls but keeps \\n and \\t', () => {
    expect(sanitizeForTerminal('a\x1b[31mred\x1b[0m b')).toBe('ared b')
    expect(sanitizeForTerminal('x\x1b]0;pwned title\x07y')).toBe('xy')
    expect(sanitizeForTerminal('x\x1b]52;c;ZXZpbA==\x1b\\y')).toBe('xy')
    expect(sanitizeForTerminal('\x1b[201~rm -rf /\x1b[200~')).toBe('rm -rf /')
    expect(sanitizeForTerminal('a\x1bPqsixel\x1b\\b')).toBe('ab')
    expect(sanitizeForTerminal('line1\nline2\tend')).toBe('line1\nline2\tend')
    expect(sanitizeForTerminal('no\rsubmit\x03\x04\x15\x7f\x00')).toBe('nosubmit')
    expect(sanitizeForTerminal('c1\u009b31mx\u0085y\u009d0;t\u0007z')).toBe('c1xyz')
    expect(sanitizeForTerminal('emoji ✓ 日本語')).toBe('emoji ✓ 日本語')
    expect(sanitizeForTerminal('lone \x1b')).toBe('lone ')
  })

  it('what reaches the PTY is sanitised (a message cannot submit early or move the cursor)', async () => {
    const fe = await startFakeEngine()
    cleanups.push(() => fe.close())
    const n = makeNode(fe, {}, cleanups)
    await n.broker.start()
    await n.connected()
    await n.broker.spawn({ name: 'a', command: 'quietcat', cwd: '/tmp' })
    await n.waitOutput('a', 'READY')
    const m = fe.post('a', 'safe\r\x1b[2Jpart\x1b]0;t\x07-two')
    await fe.waitAcked('a', 1)
    const typed = n.steps(m.msgId).find((s) => s.state === 'typed')
    expect(typed?.injected).toBe(`Relay message from alice [test / ${m.msgId}]: safepart-two`)
    await n.waitOutput('a', 'safepart-two')
  })
})

/** A fake PTY: records writes, echoes when asked. */
function fakeTarget(echo: (d: string, inj: Injector) => void = () => undefined) {
  const writes: string[] = []
  let inj!: Injector
  const target: InjectionTarget = {
    alive: true,
    lastUserInputAt: 0,
    userLineOpen: false,
    write(d: string) {
      writes.push(d)
      echo(d, inj)
    },
  }
  return { target, writes, bind: (i: Injector) => (inj = i) }
}

describe('injector §5', () => {
  it('readiness: an agent CLI is not typed into until it has drawn its first output and gone quiet', async () => {
    const t = fakeTarget((d, inj) => d !== '\r' && inj.feed(d))
    const inj = t.bind(new Injector(t.target, { readiness: { quietMs: 40, maxWaitMs: 10_000 }, enterDelayMs: 5, verifyTimeoutMs: 100 }))
    const reasons: string[] = []
    const done = inj.inject({ text: 'hello', mode: 'wait', onQueued: (r) => reasons.push(r ?? '') })
    await Promise.resolve()
    expect(t.writes).toEqual([])
    expect(reasons).toEqual(['waiting for the agent to finish starting'])
    inj.feed('Welcome to the CLI\r\n> ')
    expect(await done).toBe('echo')
    expect(t.writes).toEqual(['hello', '\r'])
  })

  it('readiness: the cap types anyway after maxWaitMs of silence', async () => {
    const t = fakeTarget()
    const inj = t.bind(new Injector(t.target, { readiness: { quietMs: 40, maxWaitMs: 60 }, enterDelayMs: 1, verifyTimeoutMs: 10 }))
    expect(inj.ready).toBe(false)
    expect(await inj.inject({ text: 'x', mode: 'wait' })).toBe('timeout_fallback')
    expect(inj.ready).toBe(true)
  })

  it('steer writes ESC ESC first; wait with a visible suggestion holds, then ESC first', async () => {
    const t = fakeTarget()
    const inj = t.bind(
      new Injector(t.target, { steerDelayMs: 1, escDelayMs: 1, enterDelayMs: 1, verifyTimeoutMs: 1, suggestionHoldMs: 50, suggestionVisible: ghostSuggestionVisible }),
    )
    await inj.inject({ text: 'steer-me', mode: 'steer' })
    expect(t.writes).toEqual(['\x1b\x1b', 'steer-me', '\r'])
    t.writes.length = 0
    inj.feed('\r\n> \x1b[2mtry "fix the tests"\x1b[0m')
    const reasons: string[] = []
    await inj.inject({ text: 'wait-me', mode: 'wait', onQueued: (r) => reasons.push(r ?? '') })
    expect(reasons).toEqual(['waiting for the suggestion shown in the terminal to clear'])
    expect(t.writes).toEqual(['\x1b', 'wait-me', '\r'])
    t.writes.length = 0
    // the suggestion goes away while waiting: no ESC
    inj.feed('\r\n> \x1b[2msuggested\x1b[0m')
    const p = inj.inject({ text: 'later', mode: 'wait' })
    inj.feed('\r\n> ')
    await p
    expect(t.writes).toEqual(['later', '\r'])
  })

  it('ghost suggestion heuristic: dim/grey text on the current line only', () => {
    expect(ghostSuggestionVisible('> \x1b[2mnext step\x1b[0m')).toBe(true)
    expect(ghostSuggestionVisible('> \x1b[90mnext\x1b[39m')).toBe(true)
    expect(ghostSuggestionVisible('\x1b[2mold dim line\x1b[0m\r\n> ')).toBe(false)
    expect(ghostSuggestionVisible('> plain text')).toBe(false)
    expect(ghostSuggestionVisible('> \x1b[2m   \x1b[0m')).toBe(false)
  })

  it('auto-enter re-presses Enter with backoff while the CLI stays silent, at most maxRetries times, and stops once it reacts', async () => {
    let now = 0
    const t = fakeTarget()
    const enters: number[] = []
    const inj = t.bind(
      new Injector(t.target, {
        enterDelayMs: 1,
        verifyTimeoutMs: 1,
        now: () => now,
        autoEnter: { checkEveryMs: 60_000, baseMs: 1000, multipliers: [1, 2], minGapMs: 0, maxRetries: 2 },
        onAutoEnter: (n) => enters.push(n),
      }),
    )
    await inj.inject({ text: 'msg', mode: 'wait' })
    now = 500
    inj.checkAutoEnter()
    expect(enters).toEqual([]) // not silent long enough
    now = 1001
    inj.checkAutoEnter()
    expect(enters).toEqual([1])
    now = 1900
    inj.checkAutoEnter()
    expect(enters).toEqual([1]) // backoff: the second needs 2 × base of silence
    now = 2100
    inj.checkAutoEnter()
    expect(enters).toEqual([1, 2])
    now = 100_000
    inj.checkAutoEnter()
    expect(enters).toEqual([1, 2]) // capped at maxRetries
    // A new message re-arms; the CLI reacting (> 10 chars) disarms for good.
    await inj.inject({ text: 'msg2', mode: 'wait' })
    inj.feed('the agent is working now')
    now = 200_000
    inj.checkAutoEnter()
    expect(enters).toEqual([1, 2])
    expect(t.writes.filter((w) => w === '\r')).toHaveLength(4)
    inj.close()
  })

  it('auto-enter never submits a line the user is typing', async () => {
    let now = 0
    const t = fakeTarget()
    const enters: number[] = []
    const inj = t.bind(
      new Injector(t.target, {
        enterDelayMs: 1,
        verifyTimeoutMs: 1,
        now: () => now,
        autoEnter: { checkEveryMs: 60_000, baseMs: 1000, multipliers: [1], minGapMs: 0, maxRetries: 5 },
        onAutoEnter: (n) => enters.push(n),
      }),
    )
    await inj.inject({ text: 'msg', mode: 'wait' })
    t.target.userLineOpen = true
    t.target.lastUserInputAt = 10
    now = 50_000
    inj.checkAutoEnter()
    expect(enters).toEqual([])
    t.target.userLineOpen = false
    inj.checkAutoEnter()
    expect(enters).toEqual([1])
    inj.close()
  })
})
