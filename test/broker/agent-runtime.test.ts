import { describe, expect, it, vi } from 'vitest'
import { AgentRuntime, OUTPUT_BATCH_MS, resolveCommand, Scrollback } from '../../electron/broker/agent-runtime'
import { Injector, InjectionCancelled, normalizeForEcho, EchoWatcher } from '../../electron/broker/injector'
import { isAlive, processTree } from '../../electron/broker/process-tree'
import { waitFor } from '../support/wait'

const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', HOME: process.env.HOME ?? '/tmp' }

function spawnAgent(command: string, args: string[] = []) {
  let out = ''
  const batches: string[] = []
  let injector: Injector | undefined
  const rt = new AgentRuntime(
    { name: 't', command, args, cwd: '/tmp', env },
    { onData: (d) => { out += d; injector?.feed(d) }, onOutput: (d) => batches.push(d) },
  )
  injector = new Injector(rt)
  return { rt, injector, out: () => out, batches }
}

describe('agent runtime on a real PTY', () => {
  it('resolves commands on PATH and reports missing ones', () => {
    expect(resolveCommand('cat')).toMatch(/\/cat$/)
    expect(resolveCommand('definitely-not-a-command-xyz')).toBeUndefined()
  })

  it('batches output and keeps scrollback', async () => {
    const a = spawnAgent('cat')
    a.rt.write('hello-batch\r')
    await waitFor(() => a.batches.join('').includes('hello-batch'), 'batched output')
    expect(a.rt.scrollback.text()).toContain('hello-batch')
    await a.rt.stop()
  })

  it('output events: the first chunk at once, the rest of a burst held for one frame and sent as one event, every byte once and in order', async () => {
    const a = spawnAgent('cat')
    const chunks: string[] = []
    let onChunk = () => undefined as void
    a.rt['events'].onData = (d: string) => {
      chunks.push(d)
      onChunk()
    }
    /** Resolves on the PTY chunk that makes `check` true (bounded; the frame timer is faked, so no polling). */
    const untilChunks = (check: () => boolean, what: string) =>
      new Promise<void>((resolve, reject) => {
        if (check()) return resolve()
        const bound = realSetTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 10_000)
        onChunk = () => {
          if (!check()) return
          realClearTimeout(bound)
          resolve()
        }
      })
    const printed = (line: string) => (chunks.join('').match(new RegExp(`${line}\r`, 'g')) ?? []).length >= 2
    // The frame timer is the runtime's only timer here; faking it makes "within one frame" exact.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      a.rt.write('line-0\r')
      await untilChunks(() => printed('line-0'), 'line-0 echoed and printed back')
      // A quiet terminal's first bytes go out at once; what follows inside the frame is held.
      expect(a.batches).toEqual([chunks[0]])
      const first = chunks.length
      for (let i = 1; i < 300; i++) a.rt.write(`line-${i}\r`)
      await untilChunks(() => printed('line-299'), 'all lines echoed and printed back')
      expect(chunks.length).toBeGreaterThan(first)
      expect(a.batches).toEqual([chunks[0]])
      vi.advanceTimersByTime(OUTPUT_BATCH_MS)
      // One event for everything held, however many chunks it came in.
      expect(a.batches).toEqual([chunks[0], chunks.slice(1).join('')])
      expect(a.batches.join('')).toBe(a.rt.scrollback.text())
      // A frame with nothing new ends the throttle: the next bytes go out at once again.
      vi.advanceTimersByTime(OUTPUT_BATCH_MS)
      expect(a.batches).toHaveLength(2)
      const before = chunks.length
      a.rt.write('after-quiet\r')
      await untilChunks(() => chunks.length > before, 'output after the quiet frame')
      expect(a.batches).toEqual([chunks[0], chunks.slice(1, before).join(''), chunks[before]])
    } finally {
      vi.useRealTimers()
    }
    await a.rt.stop()
  })

  it('bounds scrollback to the last N characters', () => {
    const s = new Scrollback(10)
    for (let i = 0; i < 50; i++) s.append(`${i % 10}`)
    expect(s.text()).toBe('0123456789')
  })

  it('stop() kills the whole process tree, including jobs in their own process group', async () => {
    const a = spawnAgent('bash', ['--norc', '--noprofile', '-i'])
    a.rt.write('sleep 300 & echo started-$((1+1))\r')
    await waitFor(() => a.out().includes('started-2'), 'background job started')
    const tree = await waitFor(() => {
      const t = processTree(a.rt.pid)
      return t.length >= 2 ? t : undefined
    }, 'sleep in the tree')
    const exit = await a.rt.stop(2000)
    // SIGHUP, as closing its terminal would: an interactive shell ignores SIGTERM, and without
    // it the shell would only die of the SIGKILL after the grace period (signal 9).
    expect(exit).toEqual({ exitCode: 0, signal: 1 })
    await waitFor(() => tree.every((p) => !isAlive(p)), 'every process gone', 5000)
  })
})

describe('injector (node-protocol §5)', () => {
  it('types text then Enter, and verifies by echo', async () => {
    const a = spawnAgent('cat')
    const typedAt: number[] = []
    const v = await a.injector.inject({ text: 'Relay message from x [m1]: hi there', mode: 'wait', onTyped: () => typedAt.push(Date.now()) })
    expect(v).toBe('echo')
    expect(typedAt).toHaveLength(1)
    await waitFor(() => (a.out().match(/hi there/g) ?? []).length >= 2, 'cat echoed the line back after Enter')
    await a.rt.stop()
  })

  it('injects one at a time, in order', async () => {
    const a = spawnAgent('cat')
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => a.injector.inject({ text: `line-${i}-end`, mode: 'wait' })))
    expect(results.every((r) => r === 'echo')).toBe(true)
    const order = [...a.out().matchAll(/line-(\d+)-end/g)].map((m) => Number(m[1]))
    // each line appears as the typed echo and as cat's output, never out of order
    const firsts = order.filter((n, i) => order.indexOf(n) === i)
    expect(firsts).toEqual(Array.from({ length: 20 }, (_, i) => i))
    await a.rt.stop()
  })

  it('falls back to a timeout when the program does not echo', async () => {
    const rt = { alive: true, written: [] as string[], write(d: string) { this.written.push(d) }, lastUserInputAt: 0, userLineOpen: false }
    const inj = new Injector(rt, { verifyTimeoutMs: 50, enterDelayMs: 5 })
    expect(await inj.inject({ text: 'silent', mode: 'wait' })).toBe('timeout_fallback')
    expect(rt.written).toEqual(['silent', '\r'])
  })

  it('a failed injection cancels the ones queued behind it (none overtakes its redelivery)', async () => {
    const rt = {
      alive: true,
      written: [] as string[],
      write(d: string) {
        if (d === 'A') throw new Error('EIO')
        this.written.push(d)
      },
      lastUserInputAt: 0,
      userLineOpen: false,
    }
    const inj = new Injector(rt, { verifyTimeoutMs: 5, enterDelayMs: 1 })
    const a = inj.inject({ text: 'A', mode: 'wait' })
    const b = inj.inject({ text: 'B', mode: 'wait' })
    await expect(a).rejects.toThrow('EIO')
    await expect(b).rejects.toBeInstanceOf(InjectionCancelled)
    expect(rt.written).toEqual([])
    // what comes after the failure (the redelivery) is typed normally
    await expect(inj.inject({ text: 'A2', mode: 'wait' })).resolves.toBe('timeout_fallback')
    expect(rt.written).toEqual(['A2', '\r'])
  })

  it('steer mode sends ESC ESC before the text', async () => {
    const rt = { alive: true, written: [] as string[], write(d: string) { this.written.push(d) }, lastUserInputAt: 0, userLineOpen: false }
    const inj = new Injector(rt, { verifyTimeoutMs: 10, enterDelayMs: 1, steerDelayMs: 1 })
    await inj.inject({ text: 'now', mode: 'steer' })
    expect(rt.written).toEqual(['\x1b\x1b', 'now', '\r'])
  })

  it('rejects when the agent has exited (the caller withholds the ack)', async () => {
    const rt = { alive: false, write() {}, lastUserInputAt: 0, userLineOpen: false }
    await expect(new Injector(rt).inject({ text: 'x', mode: 'wait' })).rejects.toThrow(/exited/)
  })

  it('waits while the user has a half-typed line, then types', async () => {
    let now = 1000
    const rt = { alive: true, written: [] as string[], write(d: string) { this.written.push(d) }, lastUserInputAt: 1000, userLineOpen: true }
    const inj = new Injector(rt, { verifyTimeoutMs: 5, enterDelayMs: 1, userHoldMs: 60_000, now: () => now })
    const queuedWhy: string[] = []
    const done = inj.inject({ text: 'msg', mode: 'wait', onQueued: (w) => queuedWhy.push(w ?? '') })
    await waitFor(() => queuedWhy.length === 1, 'queued notice')
    expect(rt.written).toEqual([])
    expect(inj.pending).toBe(1)
    rt.userLineOpen = false // the user pressed Enter
    now = 1001
    inj.userTyped()
    await done
    expect(rt.written).toEqual(['msg', '\r'])
  })

  it('matches echoes across ANSI escapes and rewrapped lines', () => {
    const w = new EchoWatcher()
    w.feed('\x1b[32mhello\x1b[0m wo\r\nrld')
    expect(w.seen(normalizeForEcho('hello world'), 0)).toBe(true)
    expect(w.seen(normalizeForEcho('other'), 0)).toBe(false)
  })
})
