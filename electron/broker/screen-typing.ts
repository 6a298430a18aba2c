/**
 * Typing one message into an agent CLI whose screen Relay reads (a `ScreenWatch`: a
 * headless terminal and the CLI's classifier). The Injector queues jobs and hands each
 * to this when the agent has a screen:
 * - type only into an idle prompt — never while it starts, works, asks for approval or
 *   shows a dialog, nor into text the user is typing (waitForIdlePrompt);
 * - press Enter once the text shows in the input, after the CLI's paste gap;
 * - resolve only once the turn started (confirmSubmitted). Text the CLI dropped is typed
 *   again; text left in the input gets Enter again; anything that cannot be proven
 *   submitted rejects with InjectionUnverified, so it is never acked.
 */
import { InjectionCancelled, InjectionUnverified, type InjectionJob, type InjectionTarget, type Verification } from './injection-types'
import type { ScreenReading } from './screen/types'

/** What the injector reads of an agent's screen (screen/agent-screen.ts implements it). */
export interface ScreenWatch {
  /** The exact reading now (all output so far parsed). */
  read(): Promise<ScreenReading>
  /** Resolves at the next screen change, or after `ms`. */
  nextChange(ms: number): Promise<void>
  /** Whether the program enabled bracketed paste. */
  readonly bracketedPaste: boolean
  /** Since when (ms) the screen has shown its current state; absent = unknown (no settle). */
  stateSince?(): number
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
  /** Shortly after a turn, how long an idle prompt must hold before the next message is typed. */
  idleSettleMs: number
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
  idleSettleMs: 0,
}

export interface ScreenTypistDeps {
  target: InjectionTarget
  screen: ScreenWatch
  typing: TypingProfile
  now: () => number
  /** Text in the prompt that the user typed within this window is theirs to finish. */
  userHoldMs: number
  isClosed: () => boolean
  /** While true, the injector's auto-enter stays away. */
  setBusy: (busy: boolean) => void
  onAutoEnter?: (retry: number) => void
}

/** A turn submitted this recently may still be running between its steps. */
const RECENT_TURN_MS = 30_000

export class ScreenTypist {
  private lastSubmitAt = -Infinity
  /**
   * The last message counted as submitted. "Busy" right after typing or Enter proves it only
   * if the turn is ours: a turn still running (opencode between two steps) shows busy too, and
   * opencode keeps text typed during a turn in its input and ignores the Enter. The text then
   * sits in the prompt after that turn, unsent. Seen there later (and not typed by the user),
   * it is ours to submit (see submitLeftover).
   */
  private unconfirmed: { text: string; enters: number; lastEnterAt: number } | undefined
  /** Bumped per message typed: a leftover watch of an earlier message stops. */
  private generation = 0

  constructor(private readonly d: ScreenTypistDeps) {}

  /** Type one message into a CLI whose screen we read; resolves once it was submitted. */
  async type(job: InjectionJob): Promise<Verification> {
    const gen = ++this.generation
    const verification = await this.typeOnce(job)
    this.lastSubmitAt = this.d.now()
    this.unconfirmed = { text: job.text, enters: 0, lastEnterAt: this.lastSubmitAt }
    // Also when no message follows it: watch until the turn ends, and submit it if it was kept.
    void this.settleLeftover(gen).catch(() => undefined)
    return verification
  }

  private async typeOnce(job: InjectionJob): Promise<Verification> {
    const screen = this.d.screen
    const t = this.d.typing
    for (let attempt = 1; attempt <= t.maxTypeAttempts; attempt++) {
      await this.waitForIdlePrompt(job, screen)
      if (job.stillWanted && !job.stillWanted()) throw new InjectionCancelled()
      this.d.setBusy(true)
      try {
        const multiLine = job.text.includes('\n')
        const paste = multiLine && t.bracketedPaste && screen.bracketedPaste
        const keys = paste ? `\x1b[200~${job.text}\x1b[201~` : job.text
        this.d.target.write(keys)
        const writtenAt = this.d.now()
        const took = await this.waitForScreen(screen, (r) => r.state !== 'idle' && r.state !== 'starting' && r.state !== 'unknown', t.takeTimeoutMs)
        if (!took) {
          // Nothing showed: the CLI dropped the text (it was not really ready). Nothing
          // was submitted, so typing it again cannot duplicate it.
          job.onQueued?.(`the agent did not take the text (attempt ${attempt} of ${t.maxTypeAttempts}); typing it again`)
          continue
        }
        if (took.state === 'busy') {
          // Submitted by the text itself (a newline the CLI took as Enter): no Enter now. Or a
          // turn that was still running: then the text may be left in the input (unconfirmed).
          job.onTyped?.({ preKeys: paste ? 'bracketed paste' : '', text: job.text, submit: '' })
          return 'submitted'
        }
        if (took.state === 'permission' || took.state === 'dialog') {
          throw new InjectionUnverified(`a ${took.state === 'permission' ? 'permission prompt' : 'dialog'} opened while the message was typed${took.detail ? `: ${took.detail}` : ''}`)
        }
        const gap = t.enterGapMs - (this.d.now() - writtenAt)
        if (gap > 0) await delay(gap)
        if (!this.d.target.alive) throw new Error('agent has exited')
        this.d.target.write('\r')
        job.onTyped?.({ preKeys: paste ? 'bracketed paste' : '', text: job.text, submit: '\r' })
        return await this.confirmSubmitted(screen)
      } finally {
        this.d.setBusy(false)
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
    const t = this.d.typing
    const deadline = this.d.now() + t.turnStartTimeoutMs
    let lastEnterAt = this.d.now()
    let retries = 0
    let idleSince: number | undefined
    for (;;) {
      if (!this.d.target.alive || this.d.isClosed()) throw new Error('agent has exited')
      const r = await screen.read()
      if (r.state === 'busy' || r.state === 'permission' || r.state === 'dialog') return 'submitted'
      const now = this.d.now()
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
        this.d.target.write('\r')
        lastEnterAt = now
        this.d.onAutoEnter?.(retries)
        continue
      }
      if (now >= deadline) {
        throw new InjectionUnverified(`typed and entered, but the agent's turn did not start within ${t.turnStartTimeoutMs} ms (screen: ${r.state}${r.detail ? `, ${r.detail}` : ''})`)
      }
      await screen.nextChange(Math.min(deadline - now, inInput ? Math.max(1, t.submitTimeoutMs - (now - lastEnterAt)) : 1000))
    }
  }

  /**
   * The prompt holds our last unconfirmed message (it was typed during a turn and kept, not
   * sent): press Enter for it, at most maxEnterRetries + 1 times, spaced by submitTimeoutMs.
   * True when an Enter was pressed.
   */
  private submitLeftover(r: ScreenReading): boolean {
    const u = this.unconfirmed
    if (!u || !r.input) return false
    const norm = (x: string) => x.replace(/\s+/g, ' ').trim()
    const shown = norm(r.input)
    const ours = norm(u.text)
    // The prompt may show the start of a long message, or wrap it: compare what is shown.
    if (shown.length < Math.min(8, ours.length) || !ours.startsWith(shown.slice(0, 200))) return false
    const now = this.d.now()
    if (u.enters > this.d.typing.maxEnterRetries || now - u.lastEnterAt < this.d.typing.submitTimeoutMs) return false
    u.enters++
    u.lastEnterAt = now
    this.d.target.write('\r')
    this.d.onAutoEnter?.(u.enters)
    this.lastSubmitAt = now
    return true
  }

  /**
   * After a message counted as submitted: until the CLI shows an idle prompt (or another
   * message is being typed, or LEFTOVER_WATCH_MS passed), submit it if the prompt turns out to
   * hold it unsent.
   */
  private async settleLeftover(gen: number): Promise<void> {
    const screen = this.d.screen
    const deadline = this.d.now() + LEFTOVER_WATCH_MS
    while (gen === this.generation && this.d.now() < deadline) {
      if (!this.d.target.alive || this.d.isClosed()) return
      const r = await screen.read()
      if (gen !== this.generation) return
      if (r.state === 'idle' && this.d.now() - this.lastSubmitAt > this.d.typing.idleSettleMs) return
      if (r.state === 'typing' && this.d.now() - this.d.target.lastUserInputAt >= this.d.userHoldMs) {
        const pressed = this.submitLeftover(r)
        if (!pressed && (this.unconfirmed?.enters ?? 0) > this.d.typing.maxEnterRetries) return
      }
      const before = this.d.now()
      await screen.nextChange(Math.min(1000, Math.max(1, deadline - this.d.now())))
      // A closed screen answers at once: never spin on it (a microtask loop starves the exit that ends it).
      if (this.d.now() - before < 1) await delay(50)
    }
  }

  /** The first reading that matches within `ms`, or undefined. */
  private async waitForScreen(screen: ScreenWatch, pred: (r: ScreenReading) => boolean, ms: number): Promise<ScreenReading | undefined> {
    const deadline = this.d.now() + ms
    for (;;) {
      if (!this.d.target.alive || this.d.isClosed()) throw new Error('agent has exited')
      const r = await screen.read()
      if (pred(r)) return r
      const left = deadline - this.d.now()
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
      if (!this.d.target.alive || this.d.isClosed()) throw new Error('agent has exited')
      const r = await screen.read()
      // `unknown` waits too: a screen we cannot read is no place to type blind.
      if (r.state === 'idle') {
        // Right after a turn, an idle frame may be a CLI between two steps of that turn
        // (opencode between a tool's result and the next model request): a message typed
        // then joins the running turn. So shortly after a submit, idle must hold a while.
        const now = this.d.now()
        const recentTurn = now - this.lastSubmitAt < RECENT_TURN_MS
        const held = now - (screen.stateSince?.() ?? 0)
        const left = recentTurn ? this.d.typing.idleSettleMs - held : 0
        if (left <= 0) return
        await screen.nextChange(left)
        continue
      }
      if (r.state === 'busy' && job.mode === 'steer' && !interrupted) {
        interrupted = true
        this.d.target.write('\x1b')
      }
      // Text in the prompt that the user typed a moment ago is theirs to finish.
      const userTyping = r.state === 'typing' && this.d.now() - this.d.target.lastUserInputAt < this.d.userHoldMs
      if (r.state === 'typing' && !userTyping && this.submitLeftover(r)) {
        job.onQueued?.('the agent kept the previous message in its prompt; submitting it first')
        await screen.nextChange(this.d.typing.submitTimeoutMs)
        continue
      }
      const reason = userTyping ? 'waiting for you to finish typing' : waitReason(r)
      if (announced !== reason) {
        announced = reason
        job.onQueued?.(reason)
      }
      await screen.nextChange(1000)
    }
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** How long after a message the typist watches for it being left unsent in the prompt (ms). */
const LEFTOVER_WATCH_MS = 120_000

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
