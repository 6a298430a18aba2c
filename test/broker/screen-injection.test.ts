/**
 * Screen-paced injection (injector.ts, runOnScreen) against a real PTY running a small
 * TUI (test/fixtures/fake-tui.mjs) that reproduces what the real CLIs did to messages:
 * input dropped while it starts, an Enter swallowed by a paste burst, a busy turn, a
 * dialog, and a CLI that never submits. What "reached the model" is the TUI's log of
 * submitted inputs: each message must be there exactly once, in order, and a message
 * that was not submitted must not resolve (so it is never acked).
 */
import { readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AgentRuntime } from '../../electron/broker/agent-runtime'
import { InjectionUnverified, Injector, type InjectionJob, type TypingProfile } from '../../electron/broker/injector'
import { AgentScreen, type ScreenReading, type ScreenView } from '../../electron/broker/screen'
import { tempDir, waitFor } from '../support/wait'

const FAKE_TUI = join(__dirname, '..', 'fixtures', 'fake-tui.mjs')

/** The fake TUI's screens, read the way the real classifiers read theirs. */
function classifyFake(v: ScreenView): ScreenReading {
  if (v.lines.some((l) => l.startsWith('Starting'))) return { state: 'starting' }
  if (v.lines.some((l) => l.includes('Trust this folder?'))) return { state: 'dialog', detail: 'Trust this folder?' }
  if (v.lines.some((l) => l.includes('esc to interrupt'))) return { state: 'busy' }
  const i = v.solid.findIndex((l) => l.startsWith('> ') || l === '>')
  if (i === -1) return { state: 'unknown' }
  const input = v.solid[i]!.slice(2).trim()
  if (input.startsWith('[Pasted text')) return { state: 'paste_pending', input }
  return input ? { state: 'typing', input } : { state: 'idle' }
}

const running: Array<{ rt: AgentRuntime; screen: AgentScreen }> = []
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.screen.close()
    await r.rt.stop(500)
  }
})

function startFake(env: Record<string, string>, typing: Partial<TypingProfile> = {}) {
  const dir = tempDir('fake-tui')
  const log = join(dir, 'submitted.jsonl')
  const screen = new AgentScreen(classifyFake, { cols: 100, rows: 30, throttleMs: 20 })
  let injector: Injector | undefined
  const rt = new AgentRuntime(
    {
      name: 'fake',
      command: process.execPath,
      args: [FAKE_TUI],
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: dir, FAKE_TUI_LOG: log, ...env },
      cols: 100,
      rows: 30,
    },
    { onData: (d) => { screen.feed(d); injector?.feed(d) } },
  )
  const autoEnters: number[] = []
  injector = new Injector(rt, {
    screen,
    typing: { takeTimeoutMs: 600, submitTimeoutMs: 500, idleConfirmMs: 150, ...typing },
    ackUnverified: false,
    onAutoEnter: (n) => autoEnters.push(n),
  })
  running.push({ rt, screen })
  const entries = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { text: string; joined: boolean }) : [])
  const submitted = () => entries().map((e) => e.text)
  return { rt, screen, injector, submitted, entries, autoEnters }
}

function job(text: string, log: string[] = []): InjectionJob {
  return { text, mode: 'wait', onQueued: (why) => log.push(`queued: ${why ?? ''}`), onTyped: () => log.push('typed') }
}

describe('screen-paced injection into a TUI (real PTY)', () => {
  it('types into an idle prompt at once and resolves only once the input was submitted', async () => {
    const f = startFake({})
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    const t0 = Date.now()
    await expect(f.injector.inject(job('hello there'))).resolves.toBe('submitted')
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(f.submitted()).toEqual(['hello there'])
  })

  it('holds a message while the CLI starts, then types it once', async () => {
    const f = startFake({ FAKE_TUI_START_MS: '700' })
    const steps: string[] = []
    await expect(f.injector.inject(job('early bird', steps))).resolves.toBe('submitted')
    expect(steps[0]).toBe('queued: waiting for the agent to finish starting')
    expect(f.submitted()).toEqual(['early bird'])
  })

  it('types a message again when a prompt that looked ready dropped it (no duplicate)', async () => {
    const f = startFake({ FAKE_TUI_DROP_MS: '900' })
    const steps: string[] = []
    await expect(f.injector.inject(job('not lost', steps))).resolves.toBe('submitted')
    expect(steps.some((s) => s.includes('did not take the text'))).toBe(true)
    expect(f.submitted()).toEqual(['not lost'])
  })

  it('presses Enter again when a paste burst swallowed it, and submits multi-line text as one turn', async () => {
    // Bracketed paste off for this one: the raw multi-line write is what a burst detector sees.
    const f = startFake({ FAKE_TUI_BURST_MS: '150' }, { bracketedPaste: false, enterGapMs: 0 })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    await expect(f.injector.inject(job('line one'))).resolves.toBe('submitted')
    expect(f.autoEnters.length).toBeGreaterThan(0)
    expect(f.submitted()).toEqual(['line one\n'])
  })

  it('sends multi-line text as a bracketed paste, shown as a placeholder, submitted with one Enter', async () => {
    const f = startFake({ FAKE_TUI_BURST_MS: '150' }, { enterGapMs: 200 })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    const text = '<system-reminder>\nreply with send_dm\n</system-reminder>\nRelay message from alice [ws / m1]: hi'
    await expect(f.injector.inject(job(text))).resolves.toBe('submitted')
    expect(f.submitted()).toEqual([text])
    expect(f.autoEnters).toEqual([])
  })

  it('waits for a busy turn to end; a burst of messages arrives once each, in order', async () => {
    const f = startFake({ FAKE_TUI_BUSY_MS: '300' })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    const steps: string[] = []
    const all = Promise.all([1, 2, 3, 4].map((i) => f.injector.inject(job(`msg ${i}`, steps))))
    await expect(all).resolves.toEqual(['submitted', 'submitted', 'submitted', 'submitted'])
    expect(f.submitted()).toEqual(['msg 1', 'msg 2', 'msg 3', 'msg 4'])
    expect(steps).toContain('queued: waiting for the agent to finish its turn')
  })

  it('right after a turn, an idle frame between two steps of it is not taken for the end of the turn', async () => {
    const f = startFake({ FAKE_TUI_BUSY_MS: '250', FAKE_TUI_BLINK_MS: '200' }, { idleSettleMs: 500 })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    await expect(Promise.all([f.injector.inject(job('first')), f.injector.inject(job('second'))])).resolves.toEqual(['submitted', 'submitted'])
    expect(f.entries().map((e) => [e.text, e.joined])).toEqual([
      ['first', false],
      ['second', false],
    ])
  })

  it('a message typed into a turn that was still running, kept in the prompt unsent, is submitted before the next one (opencode)', async () => {
    // Types during the idle blink between the two steps of a turn (settle shorter than the
    // blink); the second step starts before Enter, which is then ignored, and the text stays.
    const f = startFake({ FAKE_TUI_BUSY_MS: '300', FAKE_TUI_BLINK_MS: '200', FAKE_TUI_KEEP_WHILE_BUSY: '1' }, { idleSettleMs: 20, enterGapMs: 250 })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    const steps: string[] = []
    await expect(f.injector.inject(job('first', steps))).resolves.toBe('submitted')
    await expect(f.injector.inject(job('second', steps))).resolves.toBe('submitted')
    await expect(f.injector.inject(job('third', steps))).resolves.toBe('submitted')
    await waitFor(() => f.submitted().length === 3, `three submits (got ${JSON.stringify(f.submitted())}; steps ${JSON.stringify(steps)})`, 10_000)
    expect(f.submitted()).toEqual(['first', 'second', 'third'])
    expect(steps).toContain('queued: the agent kept the previous message in its prompt; submitting it first')
  })

  it('never types into a dialog: the message waits until the user answered it', async () => {
    const f = startFake({ FAKE_TUI_DIALOG: '1' })
    await waitFor(async () => (await f.screen.read()).state === 'dialog', 'the dialog')
    const steps: string[] = []
    const typed = f.injector.inject(job('after the dialog', steps))
    await waitFor(() => steps.length > 0, 'the wait to be announced')
    expect(steps[0]).toBe('queued: waiting: the agent shows a dialog: Trust this folder?')
    expect(f.submitted()).toEqual([])
    f.rt.writeUser('y')
    await expect(typed).resolves.toBe('submitted')
    expect(f.submitted()).toEqual(['after the dialog'])
  })

  it('rejects (no ack) a message the CLI never submits', async () => {
    const f = startFake({ FAKE_TUI_DEAF: '1' }, { maxEnterRetries: 1 })
    await waitFor(async () => (await f.screen.read()).state === 'idle', 'the idle prompt')
    const err = await f.injector.inject(job('stuck')).catch((e: Error) => e)
    expect(err).toBeInstanceOf(InjectionUnverified)
    expect(String((err as Error).message)).toMatch(/did not submit it after 2 Enters/)
    expect(f.submitted()).toEqual([])
  })

  it('rejects (no ack) when a dropped message is never taken', async () => {
    const f = startFake({ FAKE_TUI_DROP_MS: '60000' }, { maxTypeAttempts: 2, takeTimeoutMs: 300 })
    const err = await f.injector.inject(job('into the void')).catch((e: Error) => e)
    expect(err).toBeInstanceOf(InjectionUnverified)
    expect(String((err as Error).message)).toMatch(/did not take the text after 2 attempts/)
  })
})
