/**
 * Types deliveries into one agent's PTY (node-protocol.md §5), one at a time, in
 * order, never interleaved with what the user is typing.
 *
 * Pacing adapts to the terminal instead of fixed sleeps: Enter is written as soon as
 * the text's echo shows (the program has read it), or after `enterDelayMs` for
 * programs that don't echo; the next message waits for this one's echo, or for the
 * verification timeout. Resolves only after text and Enter were written, so the
 * caller can ack the engine only then (the v5 flaw was acking before typing).
 *
 * For agent CLIs whose screen we can read (a `ScreenWatch`: a headless terminal and the
 * CLI's classifier) each job goes to the ScreenTypist (screen-typing.ts) instead, which
 * follows the screen and resolves only once the CLI took the message. The echo check
 * and the suggestion heuristic for other programs live in echo.ts.
 */
import { EchoWatcher, normalizeForEcho } from './echo'
import { InjectionCancelled, InjectionUnverified, type InjectionJob, type InjectionTarget, type Verification } from './injection-types'
import { DEFAULT_TYPING, ScreenTypist, waitReason, type ScreenWatch, type TypingProfile } from './screen-typing'

export { EchoWatcher, ghostSuggestionVisible, normalizeForEcho } from './echo'
export * from './injection-types'
export { DEFAULT_TYPING, ScreenTypist, waitReason, type ScreenWatch, type TypingProfile } from './screen-typing'


/**
 * When a freshly started program can take input (§5.2). `immediate` for programs that
 * read stdin at once (cat, shells); else after its first output and then `quietMs`
 * without output (it has drawn its prompt), or `maxWaitMs` after start regardless.
 */
export type Readiness = 'immediate' | { quietMs: number; maxWaitMs: number }
export const AGENT_READINESS: Readiness = { quietMs: 800, maxWaitMs: 25_000 }

/** Auto-enter (§5.6): re-press Enter when a CLI seems to have swallowed it. */
export interface AutoEnterOptions {
  checkEveryMs: number
  baseMs: number
  multipliers: number[]
  minGapMs: number
  maxRetries: number
}
export const AUTO_ENTER_DEFAULTS: AutoEnterOptions = {
  checkEveryMs: 2000,
  baseMs: 10_000,
  multipliers: [1, 1.5, 2.5, 4, 6],
  minGapMs: 5000,
  maxRetries: 5,
}

export interface InjectorOptions {
  enterDelayMs?: number
  verifyTimeoutMs?: number
  steerDelayMs?: number
  /** Pause after the ESC that dismisses a visible suggestion. */
  escDelayMs?: number
  /** A `wait` delivery holds this long for a visible suggestion to go before dismissing it. */
  suggestionHoldMs?: number
  /** While the user has an open line typed within this window, injections wait. */
  userHoldMs?: number
  readiness?: Readiness
  /** Whether an auto-suggestion (ghost text) is showing, from the raw output tail. */
  suggestionVisible?: (rawTail: string) => boolean
  /** false/undefined = off (programs like cat must not get stray Enters). */
  autoEnter?: Partial<AutoEnterOptions> | false
  onReady?: () => void
  onAutoEnter?: (retry: number) => void
  now?: () => number
  /** The agent's classified screen; when set, pacing and verification follow it (and readiness, suggestion and auto-enter options are ignored). */
  screen?: ScreenWatch
  typing?: Partial<TypingProfile>
  /**
   * Held before the first message is typed (e.g. until the CLI has listed the relay's
   * MCP tools, so it can answer); announced with `reason` while it holds.
   */
  firstGate?: { wait: Promise<unknown>; reason: string }
  /**
   * Whether a message whose echo never showed may still be acked (`timeout_fallback`).
   * True for plain programs that may not echo; false for agent CLIs: no ack without proof.
   */
  ackUnverified?: boolean
}

const RAW_TAIL = 4096

export class Injector {
  readonly echo = new EchoWatcher()
  private chain: Promise<unknown> = Promise.resolve()
  private queued = 0
  private readonly o: Required<Pick<InjectorOptions, 'enterDelayMs' | 'verifyTimeoutMs' | 'steerDelayMs' | 'escDelayMs' | 'suggestionHoldMs' | 'userHoldMs'>>
  private readonly screen: ScreenWatch | undefined
  /** Set when a screen paces this injector (agent CLIs Relay can read). */
  private readonly typist: ScreenTypist | undefined
  private readonly now: () => number
  private readonly autoEnter: AutoEnterOptions | undefined
  private userInputWaiter: (() => void) | undefined
  private outputWaiters: Array<() => void> = []
  private rawTail = ''
  private lastOutputAt: number
  private readyFlag: boolean
  private readyWaiters: Array<() => void> = []
  private quietTimer: NodeJS.Timeout | undefined
  private maxWaitTimer: NodeJS.Timeout | undefined
  private autoTimer: NodeJS.Timeout | undefined
  private lastInjectAt = 0
  private lastAutoEnterAt = 0
  private autoRetries = 0
  private outputSinceAutoEnter = 0
  private autoArmed = false
  /** Injections that failed (not cancelled); jobs queued before one are cancelled. */
  private failures = 0
  private busy = false
  private closed = false

  constructor(
    private readonly target: InjectionTarget,
    private readonly opts: InjectorOptions = {},
  ) {
    this.o = {
      enterDelayMs: opts.enterDelayMs ?? 50,
      verifyTimeoutMs: opts.verifyTimeoutMs ?? 5000,
      steerDelayMs: opts.steerDelayMs ?? 120,
      escDelayMs: opts.escDelayMs ?? 100,
      suggestionHoldMs: opts.suggestionHoldMs ?? 10_000,
      userHoldMs: opts.userHoldMs ?? 3000,
    }
    this.now = opts.now ?? Date.now
    this.lastOutputAt = this.now()
    this.screen = opts.screen
    this.typist = opts.screen
      ? new ScreenTypist({
          target,
          screen: opts.screen,
          typing: { ...DEFAULT_TYPING, ...opts.typing },
          now: this.now,
          userHoldMs: this.o.userHoldMs,
          isClosed: () => this.closed,
          setBusy: (b) => (this.busy = b),
          onAutoEnter: opts.onAutoEnter,
        })
      : undefined
    // A screen-read CLI is verified by its screen: no blind Enters, no readiness timer.
    this.autoEnter = opts.autoEnter && !this.screen ? { ...AUTO_ENTER_DEFAULTS, ...opts.autoEnter } : undefined
    const readiness = this.screen ? 'immediate' : (opts.readiness ?? 'immediate')
    this.readyFlag = readiness === 'immediate'
    if (readiness !== 'immediate') {
      this.maxWaitTimer = setTimeout(() => this.markReady(), readiness.maxWaitMs)
      this.maxWaitTimer.unref?.()
    }
  }

  get pending(): number {
    return this.queued
  }

  get ready(): boolean {
    return this.readyFlag
  }

  /** PTY output: feeds echo verification, readiness and suggestion detection. */
  feed(data: string): void {
    // A screen-paced injector reads the screen, not the bytes: no echo, tail or timers
    // to keep up on every chunk.
    if (this.typist) return
    this.echo.feed(data)
    this.rawTail = (this.rawTail + data).slice(-RAW_TAIL)
    this.lastOutputAt = this.now()
    this.outputSinceAutoEnter += data.length
    // The CLI reacted to the last Enter: nothing left to re-press until the next message.
    // (Re-arming here instead would press Enter into an idle CLI forever.)
    if (this.outputSinceAutoEnter > 10) this.autoArmed = false
    const readiness = this.opts.readiness
    if (!this.readyFlag && readiness && readiness !== 'immediate') {
      clearTimeout(this.quietTimer)
      this.quietTimer = setTimeout(() => this.markReady(), readiness.quietMs)
      this.quietTimer.unref?.()
    }
    if (this.outputWaiters.length) for (const w of this.outputWaiters.splice(0)) w()
  }

  /** The user typed: an injection holding for them re-checks. */
  userTyped(): void {
    this.userInputWaiter?.()
  }

  /** Stop timers (the agent exited). Queued jobs fail on their own: the target is dead. */
  close(): void {
    this.closed = true
    clearTimeout(this.quietTimer)
    clearTimeout(this.maxWaitTimer)
    clearInterval(this.autoTimer)
    this.markReady()
    // Wake whatever is holding, so queued jobs fail now instead of after their hold.
    this.userInputWaiter?.()
    for (const w of this.outputWaiters.splice(0)) w()
  }

  private markReady(): void {
    clearTimeout(this.quietTimer)
    clearTimeout(this.maxWaitTimer)
    if (this.readyFlag) return
    this.readyFlag = true
    for (const w of this.readyWaiters.splice(0)) w()
    if (!this.closed) this.opts.onReady?.()
  }

  private suggestionVisible(): boolean {
    if (this.screen) return false
    return this.opts.suggestionVisible?.(this.rawTail) ?? false
  }

  /**
   * Queue one injection. Resolves with how it was verified once typed; rejects if the
   * PTY could not be written or the job was cancelled (the caller withholds the ack).
   */
  inject(job: InjectionJob): Promise<Verification> {
    this.queued++
    // Jobs queued before a failure must not be typed after it (they would overtake the
    // failed one's redelivery). The failure is counted in the chain itself, so the next
    // job sees it synchronously, before it starts.
    const failuresAtEnqueue = this.failures
    const run = this.chain.then(() => {
      if (this.failures !== failuresAtEnqueue) throw new InjectionCancelled()
      return this.run(job)
    })
    this.chain = run.catch((err: unknown) => {
      if (!(err instanceof InjectionCancelled)) this.failures++
    })
    return run.finally(() => {
      this.queued--
    })
  }

  private gatePassed = false

  private async run(job: InjectionJob): Promise<Verification> {
    const gate = this.opts.firstGate
    if (gate && !this.gatePassed) {
      let settled = false
      const waited = gate.wait.catch(() => undefined).finally(() => (settled = true))
      await Promise.resolve() // let an already-settled gate say so
      let announced: string | undefined
      while (!settled && !this.closed) {
        // Say what the screen shows if that is why (a dialog, a prompt), else the gate's reason.
        const r = this.screen ? await this.screen.read() : undefined
        const reason = r && (r.state === 'dialog' || r.state === 'permission') ? waitReason(r) : gate.reason
        if (reason !== announced) {
          announced = reason
          job.onQueued?.(reason)
        }
        await Promise.race([waited, this.screen ? this.screen.nextChange(1000) : waited])
      }
      this.gatePassed = true
    }
    if (this.typist) return this.typist.type(job)
    if (!this.readyFlag) {
      job.onQueued?.('waiting for the agent to finish starting')
      await new Promise<void>((r) => this.readyWaiters.push(r))
    }
    await this.waitForUser(job)
    if (job.mode === 'wait') await this.waitForSuggestion(job)
    if (!this.target.alive) throw new Error('agent has exited')
    if (job.stillWanted && !job.stillWanted()) throw new InjectionCancelled()
    this.busy = true
    try {
      const expected = normalizeForEcho(job.text)
      const from = this.echo.position
      let preKeys = ''
      if (job.mode === 'steer') {
        preKeys = '\x1b\x1b'
        this.target.write(preKeys)
        await delay(this.o.steerDelayMs)
      } else if (this.suggestionVisible()) {
        preKeys = '\x1b'
        this.target.write(preKeys)
        await delay(this.o.escDelayMs)
      }
      if (!this.target.alive) throw new Error('agent has exited')
      this.target.write(job.text)
      const echoed = await this.echo.waitFor(expected, from, this.o.enterDelayMs)
      this.target.write('\r')
      this.armAutoEnter()
      job.onTyped?.({ preKeys, text: job.text, submit: '\r' })
      if (echoed) return 'echo'
      const late = await this.echo.waitFor(expected, from, this.o.verifyTimeoutMs)
      if (late) return 'echo'
      if (this.opts.ackUnverified === false) {
        throw new InjectionUnverified(`typed, but the text never showed in the terminal within ${this.o.verifyTimeoutMs} ms`)
      }
      return 'timeout_fallback'
    } finally {
      this.busy = false
    }
  }

  /** A `wait` delivery lets a visible suggestion go away for a while before ESC-ing it (§5.1). */
  private async waitForSuggestion(job: InjectionJob): Promise<void> {
    if (!this.suggestionVisible()) return
    job.onQueued?.('waiting for the suggestion shown in the terminal to clear')
    const deadline = this.now() + this.o.suggestionHoldMs
    while (this.suggestionVisible() && this.target.alive) {
      const left = deadline - this.now()
      if (left <= 0) return
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.outputWaiters.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  private armAutoEnter(): void {
    this.lastInjectAt = this.now()
    this.autoRetries = 0
    this.outputSinceAutoEnter = 0
    this.autoArmed = true
    const ae = this.autoEnter
    if (!ae || this.autoTimer || this.closed) return
    this.autoTimer = setInterval(() => this.autoEnterTick(ae), ae.checkEveryMs)
    this.autoTimer.unref?.()
  }

  /** One auto-enter check (§5.6); the timer calls it, tests may too. */
  checkAutoEnter(): void {
    if (this.autoEnter) this.autoEnterTick(this.autoEnter)
  }

  private autoEnterTick(ae: AutoEnterOptions): void {
    if (!this.target.alive || this.closed) return this.close()
    if (!this.autoArmed || this.busy || this.autoRetries >= ae.maxRetries) return
    const now = this.now()
    const m = ae.multipliers[Math.min(this.autoRetries, ae.multipliers.length - 1)] ?? 1
    const wait = ae.baseMs * m
    if (now - this.lastInjectAt < wait || now - this.lastOutputAt < wait) return
    // Never submit what the user is in the middle of typing.
    if (this.target.userLineOpen || now - this.target.lastUserInputAt < wait) return
    if (now - this.lastAutoEnterAt < ae.minGapMs || this.suggestionVisible()) return
    this.lastAutoEnterAt = now
    this.autoRetries++
    this.outputSinceAutoEnter = 0
    this.target.write('\r')
    this.opts.onAutoEnter?.(this.autoRetries)
  }

  /** Hold while the user has a half-typed line (typed recently), re-checking on each keystroke. */
  private async waitForUser(job: InjectionJob): Promise<void> {
    let announced = false
    for (;;) {
      const idleFor = this.now() - this.target.lastUserInputAt
      if (this.closed || !this.target.userLineOpen || idleFor >= this.o.userHoldMs) return
      if (!announced) {
        job.onQueued?.('waiting for you to finish typing')
        announced = true
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.userHoldMs - idleFor)
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
