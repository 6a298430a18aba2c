/**
 * One agent's screen, read: a headless terminal fed with the PTY's output and the
 * CLI's classifier applied to it. The injector asks it whether the CLI can take a
 * message now and whether a typed message was submitted; the broker publishes its
 * state changes (working, idle, needs approval, dialog) to the UI and the tray.
 *
 * Reading a screen costs a pass over every cell, so background classification is
 * throttled (one per `throttleMs` per agent, trailing); `read()` is always exact.
 */
import { ScreenModel } from './screen-model'
import type { ScreenClassifier, ScreenReading, ScreenState } from './types'

export const SCREEN_THROTTLE_MS = 100

export interface AgentScreenOptions {
  cols?: number
  rows?: number
  throttleMs?: number
  /** The state (or its detail) changed, from the throttled background read. */
  onState?: (reading: ScreenReading) => void
}

export class AgentScreen {
  private readonly model: ScreenModel
  private last: ScreenReading = { state: 'starting' }
  private lastChangedAt = Date.now()
  private timer: NodeJS.Timeout | undefined
  private lastClassifiedAt = 0
  private readonly changeWaiters = new Set<() => void>()
  private bracketed = false
  private closed = false

  constructor(
    private readonly classify: ScreenClassifier,
    private readonly opts: AgentScreenOptions = {},
  ) {
    this.model = new ScreenModel({ cols: opts.cols, rows: opts.rows, onChange: () => this.onParsed() })
  }

  /** Raw PTY output. */
  feed(data: string): void {
    if (this.closed) return
    // Bracketed-paste mode, tracked from the raw stream (cheaper than asking the parser).
    if (data.includes('\x1b[?2004')) {
      const on = data.lastIndexOf('\x1b[?2004h')
      const off = data.lastIndexOf('\x1b[?2004l')
      if (on !== off) this.bracketed = on > off
    }
    this.model.write(data)
  }

  resize(cols: number, rows: number): void {
    this.model.resize(cols, rows)
    this.onParsed()
  }

  /** Whether the program asked for bracketed paste (ESC[?2004h) and has not turned it off. */
  get bracketedPaste(): boolean {
    return this.bracketed
  }


  get state(): ScreenState {
    return this.last.state
  }

  /** When the screen's state last changed (as of the last reading). */
  stateSince(): number {
    return this.lastChangedAt
  }

  /** The exact reading: waits for written output to be parsed, then classifies. */
  async read(): Promise<ScreenReading> {
    await this.model.settled()
    return this.classifyNow()
  }

  /** Resolves at the next parsed output (or resize), or after `ms`. */
  nextChange(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t)
        this.changeWaiters.delete(done)
        resolve()
      }
      const t = setTimeout(done, ms)
      this.changeWaiters.add(done)
    })
  }


  close(): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    for (const w of [...this.changeWaiters]) w()
    this.model.dispose()
  }

  private onParsed(): void {
    for (const w of [...this.changeWaiters]) w()
    if (this.timer || this.closed) return
    const throttle = this.opts.throttleMs ?? SCREEN_THROTTLE_MS
    const wait = Math.max(0, this.lastClassifiedAt + throttle - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (!this.closed) this.classifyNow()
    }, wait)
    this.timer.unref?.()
  }

  private classifyNow(): ScreenReading {
    if (this.closed) return this.last
    this.lastClassifiedAt = Date.now()
    let reading: ScreenReading
    try {
      const view = this.model.view()
      // Nothing drawn yet: the program is still starting, whatever its classifier thinks.
      reading = view.lines.every((l) => l === '') ? { state: 'starting' } : this.classify(view)
    } catch {
      reading = { state: 'unknown' }
    }
    const prev = this.last
    this.last = reading
    if (prev.state !== reading.state) this.lastChangedAt = Date.now()
    if (prev.state !== reading.state || prev.detail !== reading.detail) this.opts.onState?.(reading)
    return reading
  }
}
