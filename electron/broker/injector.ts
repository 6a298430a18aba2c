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
 * CLI's classifier) the pacing follows the screen instead: type only into an idle
 * prompt (never while it starts, works, asks for approval or shows a dialog), press
 * Enter once the text shows in the input, and resolve only once the input was
 * submitted. A message the CLI did not take is typed again; one it did not submit gets
 * Enter again; one that cannot be proven submitted is rejected, never acked.
 */
import { ANSI_SEQUENCE } from './files'
import type { ScreenReading } from './screen/types'


/** What we compare echoes on: no escapes and no whitespace (TTYs and TUIs rewrap lines). */
export function normalizeForEcho(text: string): string {
  return text.replace(ANSI_SEQUENCE, '').replace(/\s+/g, '')
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
  /** Called as the job moves: queued (waiting its turn, with why), typed, then verified. */
  onQueued?: (reason?: string) => void
  onTyped?: (keys: TypedKeys) => void
  /** Checked right before typing: false cancels the job (it rejects with InjectionCancelled). */
  stillWanted?: () => boolean
}

/** What went to the PTY for one job, for the message trace. */
export interface TypedKeys {
  preKeys: string
  text: string
  submit: string
}

/**
 * How a typed message was verified: `submitted` (the CLI's screen showed the text in its
 * input, then took it), `echo` (the text came back on the terminal), `timeout_fallback`
 * (neither, for a program that may not echo; only when `ackUnverified` allows it).
 */
export type Verification = 'submitted' | 'echo' | 'timeout_fallback'

/** What the injector reads of an agent's screen (screen/agent-screen.ts implements it). */
export interface ScreenWatch {
  /** The exact reading now (all output so far parsed). */
  read(): Promise<ScreenReading>
  /** Resolves at the next screen change, or after `ms`. */
  nextChange(ms: number): Promise<void>
  /** Whether the program enabled bracketed paste. */
  readonly bracketedPaste: boolean
}

/** How a screen-read CLI takes typed text (per CLI, measured on the pinned versions). */
export interface TypingProfile {
  /**
   * Multi-line text is sent as a bracketed paste when the program enabled it: the CLI
   * then knows where the text ends, and the Enter after it is a key, not more paste.
   */
  bracketedPaste: boolean
  /** Least time between the text's last byte and Enter (paste-burst detectors). */
  enterGapMs: number
  /** How long the text may take to show in the input before it counts as not taken. */
  takeTimeoutMs: number
  /** How long after Enter the input must have been submitted before Enter is pressed again. */
  submitTimeoutMs: number
  /** Times the text is typed again when the CLI did not take it. */
  maxTypeAttempts: number
  /** Extra Enters for text that stays in the input. */
  maxEnterRetries: number
  /** How long a CLI may hold a submitted input (queued while it starts) before its turn starts. */
  turnStartTimeoutMs: number
  /** An emptied prompt that shows no turn (no busy frame) this long counts as submitted. */
  idleConfirmMs: number
}

export const DEFAULT_TYPING: TypingProfile = {
  bracketedPaste: true,
  enterGapMs: 60,
  takeTimeoutMs: 2000,
  submitTimeoutMs: 2500,
  maxTypeAttempts: 3,
  maxEnterRetries: 3,
  turnStartTimeoutMs: 30_000,
  idleConfirmMs: 1500,
}

/** The text was written but could not be proven to have reached the program: never ack it. */
export class InjectionUnverified extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'InjectionUnverified'
  }
}

export class InjectionCancelled extends Error {
  constructor(reason = 'injection cancelled') {
    super(reason)
    this.name = 'InjectionCancelled'
  }
}

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

/**
 * Ghost-text auto-suggestion heuristic: the line being drawn (after the last newline)
 * has non-blank text in dim / grey (SGR 2, 90, or 256-colour greys 238–246).
 */
export function ghostSuggestionVisible(rawTail: string): boolean {
  const nl = Math.max(rawTail.lastIndexOf('\n'), 0)
  const line = rawTail.slice(nl)
  const m = /\x1b\[(?:[0-9;]*;)?(?:2|90|38;5;(?:23[89]|24[0-6]))m([^\x1b]*)/g
  let hit: RegExpExecArray | null
  let visible = false
  while ((hit = m.exec(line))) visible = /\S/.test(hit[1] ?? '')
  return visible
}

export class Injector {
  readonly echo = new EchoWatcher()
  private chain: Promise<unknown> = Promise.resolve()
  private queued = 0
  private readonly o: Required<Pick<InjectorOptions, 'enterDelayMs' | 'verifyTimeoutMs' | 'steerDelayMs' | 'escDelayMs' | 'suggestionHoldMs' | 'userHoldMs'>>
  private readonly typing: TypingProfile
  private readonly screen: ScreenWatch | undefined
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
    this.typing = { ...DEFAULT_TYPING, ...opts.typing }
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

  /** Whether a screen paces this injector (no echo/timeout fallback, no readiness timer). */
  get screenPaced(): boolean {
    return this.screen !== undefined
  }

  /** PTY output: feeds echo verification, readiness and suggestion detection. */
  feed(data: string): void {
    this.echo.feed(data)
    this.rawTail = (this.rawTail + data).slice(-RAW_TAIL)
    this.lastOutputAt = this.now()
    this.outputSinceAutoEnter += data.length
    // The CLI reacted to the last Enter: nothing left to re-press until the next message.
    // (Re-arming here instead would press Enter into an idle CLI forever.)
    if (this.outputSinceAutoEnter > 10) this.autoArmed = false
    const readiness = this.screen ? undefined : this.opts.readiness
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
    if (this.screen) return this.runOnScreen(job, this.screen)
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

  // ---- screen-paced typing (agent CLIs we can read) --------------------------

  /** Type one message into a CLI whose screen we read; resolves once it was submitted. */
  private async runOnScreen(job: InjectionJob, screen: ScreenWatch): Promise<Verification> {
    const t = this.typing
    for (let attempt = 1; attempt <= t.maxTypeAttempts; attempt++) {
      await this.waitForIdlePrompt(job, screen)
      if (job.stillWanted && !job.stillWanted()) throw new InjectionCancelled()
      this.busy = true
      try {
        const multiLine = job.text.includes('\n')
        const paste = multiLine && t.bracketedPaste && screen.bracketedPaste
        const keys = paste ? `\x1b[200~${job.text}\x1b[201~` : job.text
        this.target.write(keys)
        const writtenAt = this.now()
        const took = await this.waitForScreen(screen, (r) => r.state !== 'idle' && r.state !== 'starting' && r.state !== 'unknown', t.takeTimeoutMs)
        if (!took) {
          // Nothing showed: the CLI dropped the text (it was not really ready). Nothing
          // was submitted, so typing it again cannot duplicate it.
          job.onQueued?.(`the agent did not take the text (attempt ${attempt} of ${t.maxTypeAttempts}); typing it again`)
          continue
        }
        if (took.state === 'busy') {
          // Submitted by the text itself (a newline the CLI took as Enter): no Enter now.
          job.onTyped?.({ preKeys: paste ? 'bracketed paste' : '', text: job.text, submit: '' })
          return 'submitted'
        }
        if (took.state === 'permission' || took.state === 'dialog') {
          throw new InjectionUnverified(`a ${took.state === 'permission' ? 'permission prompt' : 'dialog'} opened while the message was typed${took.detail ? `: ${took.detail}` : ''}`)
        }
        const gap = t.enterGapMs - (this.now() - writtenAt)
        if (gap > 0) await delay(gap)
        if (!this.target.alive) throw new Error('agent has exited')
        this.target.write('\r')
        job.onTyped?.({ preKeys: paste ? 'bracketed paste' : '', text: job.text, submit: '\r' })
        return await this.confirmSubmitted(screen)
      } finally {
        this.busy = false
      }
    }
    throw new InjectionUnverified(`the agent did not take the text after ${t.maxTypeAttempts} attempts`)
  }

  /**
   * After Enter: the message counts as submitted once the CLI's turn started (busy), or
   * the turn already asks for approval, or the prompt stayed empty and idle for
   * `idleConfirmMs` (a turn too quick to catch). Text still in the input gets Enter again after `submitTimeoutMs` (a
   * paste burst took the first as a newline). A CLI that took the input but holds it
   * (Gemini queues it while its MCP servers start) is waited for, up to
   * `turnStartTimeoutMs`, without pressing anything: the next message must not join it
   * in the CLI's queue (queued prompts are sent as one turn).
   */
  private async confirmSubmitted(screen: ScreenWatch): Promise<Verification> {
    const t = this.typing
    const deadline = this.now() + t.turnStartTimeoutMs
    let lastEnterAt = this.now()
    let retries = 0
    let idleSince: number | undefined
    for (;;) {
      if (!this.target.alive || this.closed) throw new Error('agent has exited')
      const r = await screen.read()
      if (r.state === 'busy' || r.state === 'permission' || r.state === 'dialog') return 'submitted'
      const now = this.now()
      // An empty prompt is not proof yet: CLIs clear the input a moment before they draw
      // the turn (Codex: ~150 ms), and a message typed in between interrupts that turn.
      // Only a prompt that stays idle that long was a turn too quick to catch.
      if (r.state === 'idle') {
        idleSince ??= now
        if (now - idleSince >= t.idleConfirmMs) return 'submitted'
        await screen.nextChange(t.idleConfirmMs - (now - idleSince))
        continue
      }
      idleSince = undefined
      const inInput = r.state === 'typing' || r.state === 'paste_pending'
      if (inInput && now - lastEnterAt >= t.submitTimeoutMs) {
        if (retries >= t.maxEnterRetries) {
          throw new InjectionUnverified(`typed, but the agent did not submit it after ${retries + 1} Enters (its prompt still holds ${r.input ? `"${r.input.slice(0, 80)}"` : 'the text'})`)
        }
        // The text is still in the input: the Enter was taken as part of a paste.
        retries++
        this.target.write('\r')
        lastEnterAt = now
        this.opts.onAutoEnter?.(retries)
        continue
      }
      if (now >= deadline) {
        throw new InjectionUnverified(`typed and entered, but the agent's turn did not start within ${t.turnStartTimeoutMs} ms (screen: ${r.state}${r.detail ? `, ${r.detail}` : ''})`)
      }
      await screen.nextChange(Math.min(deadline - now, inInput ? Math.max(1, t.submitTimeoutMs - (now - lastEnterAt)) : 1000))
    }
  }

  /** The first reading that matches within `ms`, or undefined. */
  private async waitForScreen(screen: ScreenWatch, pred: (r: ScreenReading) => boolean, ms: number): Promise<ScreenReading | undefined> {
    const deadline = this.now() + ms
    for (;;) {
      if (!this.target.alive || this.closed) throw new Error('agent has exited')
      const r = await screen.read()
      if (pred(r)) return r
      const left = deadline - this.now()
      if (left <= 0) return undefined
      await screen.nextChange(left)
    }
  }

  /**
   * Hold until the CLI shows an empty, idle prompt: while it starts, works, asks for
   * approval or shows a dialog, and while the user has a line open. Each new reason is
   * announced once (the feed shows why a message waits). A steer delivery interrupts a
   * busy CLI (Esc) instead of waiting for its turn to end.
   */
  private async waitForIdlePrompt(job: InjectionJob, screen: ScreenWatch): Promise<void> {
    let announced: string | undefined
    let interrupted = false
    for (;;) {
      if (!this.target.alive || this.closed) throw new Error('agent has exited')
      const r = await screen.read()
      // `unknown` waits too: a screen we cannot read is no place to type blind.
      if (r.state === 'idle') return
      if (r.state === 'busy' && job.mode === 'steer' && !interrupted) {
        interrupted = true
        this.target.write('\x1b')
      }
      // Text in the prompt that the user typed a moment ago is theirs to finish.
      const userTyping = r.state === 'typing' && this.now() - this.target.lastUserInputAt < this.o.userHoldMs
      const reason = userTyping ? 'waiting for you to finish typing' : waitReason(r)
      if (announced !== reason) {
        announced = reason
        job.onQueued?.(reason)
      }
      await screen.nextChange(1000)
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

/** Why a message waits, for the feed. */
export function waitReason(r: ScreenReading): string {
  const detail = r.detail ? `: ${r.detail}` : ''
  switch (r.state) {
    case 'starting':
      return 'waiting for the agent to finish starting'
    case 'busy':
      return 'waiting for the agent to finish its turn'
    case 'permission':
      return `waiting: the agent asks for approval${detail}`
    case 'dialog':
      return `waiting: the agent shows a dialog${detail}`
    case 'typing':
    case 'paste_pending':
      return "waiting: the agent's prompt holds unsent text"
    case 'unknown':
      return "waiting: the agent's screen is not one Relay can read (no prompt to type into)"
    default:
      return 'waiting for the agent'
  }
}
