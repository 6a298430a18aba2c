/**
 * Types deliveries into one agent's PTY (node-protocol.md §5), one at a time, in
 * order, never interleaved with what the user is typing.
 *
 * Pacing adapts to the terminal instead of fixed sleeps: Enter is written as soon as
 * the text's echo shows (the program has read it), or after `enterDelayMs` for
 * programs that don't echo; the next message waits for this one's echo, or for the
 * verification timeout. Resolves only after text and Enter were written, so the
 * caller can ack the engine only then (the v5 flaw was acking before typing).
 */

// CSI / OSC / two-char escapes. Good enough to find our own text in a TUI's output.
const ANSI = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g

/** What we compare echoes on: no escapes and no whitespace (TTYs and TUIs rewrap lines). */
export function normalizeForEcho(text: string): string {
  return text.replace(ANSI, '').replace(/\s+/g, '')
}

/** Keeps a normalized tail of the output so an expected echo can be searched cheaply. */
export class EchoWatcher {
  private buf = ''
  /** Absolute offset of buf[0] in the normalized stream. */
  private base = 0
  private waiters: Array<{ needle: string; from: number; done: () => void }> = []

  constructor(private readonly keep = 16_000) {}

  get position(): number {
    return this.base + this.buf.length
  }

  feed(data: string): void {
    const n = normalizeForEcho(data)
    if (!n) return
    this.buf += n
    if (this.waiters.length) {
      this.waiters = this.waiters.filter((w) => {
        if (this.seen(w.needle, w.from)) {
          w.done()
          return false
        }
        return true
      })
    }
    if (this.buf.length > this.keep * 2) {
      const drop = this.buf.length - this.keep
      this.buf = this.buf.slice(drop)
      this.base += drop
    }
  }

  seen(needle: string, from: number): boolean {
    if (!needle) return true
    const start = Math.max(0, from - this.base)
    return this.buf.indexOf(needle, start) !== -1
  }

  /** Resolves true once `needle` appears after `from`, false after `timeoutMs`. */
  waitFor(needle: string, from: number, timeoutMs: number): Promise<boolean> {
    if (this.seen(needle, from)) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = {
        needle,
        from,
        done: () => {
          clearTimeout(timer)
          resolve(true)
        },
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve(false)
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }
}

export interface InjectionTarget {
  readonly alive: boolean
  write(data: string): void
  lastUserInputAt: number
  userLineOpen: boolean
}

export interface InjectionJob {
  text: string
  mode: 'wait' | 'steer'
  /** Called as the job moves: queued (waiting its turn), typed, then verified. */
  onQueued?: (reason?: string) => void
  onTyped?: () => void
}

export type Verification = 'echo' | 'timeout_fallback'

export interface InjectorOptions {
  enterDelayMs?: number
  verifyTimeoutMs?: number
  steerDelayMs?: number
  /** While the user has an open line typed within this window, injections wait. */
  userHoldMs?: number
  now?: () => number
}

export class Injector {
  readonly echo = new EchoWatcher()
  private chain: Promise<unknown> = Promise.resolve()
  private queued = 0
  private readonly enterDelayMs: number
  private readonly verifyTimeoutMs: number
  private readonly steerDelayMs: number
  private readonly userHoldMs: number
  private readonly now: () => number
  private userInputWaiter: (() => void) | undefined

  constructor(
    private readonly target: InjectionTarget,
    opts: InjectorOptions = {},
  ) {
    this.enterDelayMs = opts.enterDelayMs ?? 50
    this.verifyTimeoutMs = opts.verifyTimeoutMs ?? 5000
    this.steerDelayMs = opts.steerDelayMs ?? 120
    this.userHoldMs = opts.userHoldMs ?? 3000
    this.now = opts.now ?? Date.now
  }

  get pending(): number {
    return this.queued
  }

  /** PTY output: feeds echo verification. */
  feed(data: string): void {
    this.echo.feed(data)
  }

  /** The user typed: an injection holding for them re-checks. */
  userTyped(): void {
    this.userInputWaiter?.()
  }

  /**
   * Queue one injection. Resolves with how it was verified once typed; rejects if the
   * PTY could not be written (the caller withholds the ack).
   */
  inject(job: InjectionJob): Promise<Verification> {
    this.queued++
    const run = this.chain.then(() => this.run(job))
    this.chain = run.catch(() => undefined)
    return run.finally(() => {
      this.queued--
    })
  }

  private async run(job: InjectionJob): Promise<Verification> {
    await this.waitForUser(job)
    if (!this.target.alive) throw new Error('agent has exited')
    const expected = normalizeForEcho(job.text)
    const from = this.echo.position
    if (job.mode === 'steer') {
      this.target.write('\x1b\x1b')
      await delay(this.steerDelayMs)
    }
    this.target.write(job.text)
    const echoed = await this.echo.waitFor(expected, from, this.enterDelayMs)
    this.target.write('\r')
    job.onTyped?.()
    if (echoed) return 'echo'
    const late = await this.echo.waitFor(expected, from, this.verifyTimeoutMs)
    return late ? 'echo' : 'timeout_fallback'
  }

  /** Hold while the user has a half-typed line (typed recently), re-checking on each keystroke. */
  private async waitForUser(job: InjectionJob): Promise<void> {
    let announced = false
    for (;;) {
      const idleFor = this.now() - this.target.lastUserInputAt
      if (!this.target.userLineOpen || idleFor >= this.userHoldMs) return
      if (!announced) {
        job.onQueued?.('waiting for you to finish typing')
        announced = true
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.userHoldMs - idleFor)
        this.userInputWaiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.userInputWaiter = undefined
    }
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))
