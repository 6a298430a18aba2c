/**
 * One agent's xterm, created outside React so switching tabs or re-rendering never
 * re-creates it (repeated `open()` leaks listeners). React only lends it a host element.
 *
 * Output only while shown: a terminal on screen subscribes (`terminal.subscribe`, whose
 * result is the host's scrollback, replayed into a reset xterm) and one that is hidden
 * (another tab, or the whole window) unsubscribes, so the host sends a window only the
 * bytes it shows. Output events that arrive while a subscribe is in flight are dropped,
 * not queued: the transport is ordered, so they were sent before the reply and the
 * scrollback already holds them. This relies on the host's scrollback being exactly the
 * bytes it has emitted as `terminal.output` so far.
 *
 * Flow control: what xterm has parsed is acked to the host every OUTPUT_ACK_CHARS; a
 * viewer that falls OUTPUT_HIGH_WATERMARK behind gets the agent's PTY paused.
 */
import { FitAddon } from '@xterm/addon-fit'
import { Terminal } from '@xterm/xterm'
import { OUTPUT_ACK_CHARS } from '../../../shared/ipc'
import { errorMessage, type Bridge } from '../bridge'
import { findAll, step, type Match } from './search'
import { terminalOptions } from './theme'

export interface FindResult {
  /** 1-based index of the selected match, 0 when none. */
  index: number
  total: number
}

/** Copy/paste/find keys. Ctrl+C and Ctrl+V stay the terminal's (SIGINT, literal next). */
export function terminalKeyAction(e: Pick<KeyboardEvent, 'type' | 'ctrlKey' | 'shiftKey' | 'metaKey' | 'key'>): 'copy' | 'paste' | 'find' | null {
  if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey || e.metaKey) return null
  switch (e.key.toLowerCase()) {
    case 'c':
      return 'copy'
    case 'v':
      return 'paste'
    case 'f':
      return 'find'
    default:
      return null
  }
}

const RESIZE_DEBOUNCE_MS = 100

export class TerminalRuntime {
  private readonly term = new Terminal(terminalOptions)
  private readonly fit = new FitAddon()
  private loading = false
  private generation = 0
  /** Shown on screen (its tab selected, the page visible): then it is subscribed. */
  private shown = false
  private subscribed = false
  private unacked = 0
  private attachToken: symbol | null = null
  private observer: ResizeObserver | null = null
  private resizeTimer: ReturnType<typeof setTimeout> | null = null
  private lastSize = { cols: 0, rows: 0 }
  private warnedWrite = false
  private disposed = false
  private matches: Match[] = []
  private matchIndex = -1
  private lastQuery = ''

  constructor(
    readonly name: string,
    private readonly bridge: Bridge,
    /** Called when a snapshot load starts, so staged output for this agent is dropped. */
    private readonly onLoadStart: () => void,
  ) {
    this.term.loadAddon(this.fit)
    this.term.onData((data) => this.sendInput(data))
    this.term.attachCustomKeyEventHandler((e) => {
      const action = terminalKeyAction(e)
      if (action === 'copy') {
        this.copySelection()
        return false
      }
      // Not handled by xterm (which would send ^V): the browser's own paste then reaches
      // xterm's textarea as a paste event, so no clipboard-read permission is needed.
      if (action === 'paste') return false
      if (action === 'find') {
        e.preventDefault()
        window.dispatchEvent(new CustomEvent('relay:find', { detail: this.name }))
        return false
      }
      return true
    })
  }

  /** Copies the selection; true when there was one. */
  copySelection(): boolean {
    const text = this.term.getSelection()
    if (!text) return false
    navigator.clipboard?.writeText(text).catch((error: unknown) => console.warn(`[terminal] copy failed: ${errorMessage(error)}`))
    return true
  }

  /**
   * Selects and scrolls to a match of `query`. A new query starts at the newest match (the
   * bottom, where recent output is); asking again steps to older matches (`backwards`,
   * the default) or newer ones, wrapping around.
   */
  find(query: string, backwards = true): FindResult {
    if (this.disposed) return { index: 0, total: 0 }
    // Re-scan every time: output keeps arriving, and a scan of the scrollback takes a few ms.
    const matches = findAll(this.term.buffer.active, query)
    const prev = query === this.lastQuery ? this.matches[this.matchIndex] : undefined
    const current = prev ? matches.findIndex((m) => m.row === prev.row && m.col === prev.col) : -1
    this.lastQuery = query
    this.matches = matches
    this.matchIndex = current < 0 ? matches.length - 1 : step(matches, current, backwards)
    const m = matches[this.matchIndex]
    if (!m) {
      this.term.clearSelection()
      return { index: 0, total: 0 }
    }
    this.term.select(m.col, m.row, m.length)
    this.term.scrollToLine(Math.max(0, m.row - Math.floor(this.term.rows / 2)))
    return { index: this.matchIndex + 1, total: matches.length }
  }

  clearFind(): void {
    this.matches = []
    this.matchIndex = -1
    this.lastQuery = ''
    if (!this.disposed) this.term.clearSelection()
  }

  /** Visible text of the buffer (tests, the benchmark). */
  text(): string {
    const b = this.term.buffer.active
    const rows: string[] = []
    for (let y = 0; y < b.length; y++) rows.push(b.getLine(y)?.translateToString(true) ?? '')
    return rows.join('\n')
  }

  /** True once scrollback is in place and live output may be appended. */
  get live(): boolean {
    return this.subscribed && !this.loading && !this.disposed && this.term.element !== undefined
  }

  attach(host: HTMLElement): () => void {
    const firstOpen = this.term.element === undefined
    if (firstOpen) this.term.open(host)
    else if (this.term.element && this.term.element.parentElement !== host) host.appendChild(this.term.element)

    const token = Symbol(this.name)
    this.attachToken = token
    this.observer?.disconnect()
    this.observer = new ResizeObserver(() => this.scheduleFit())
    this.observer.observe(host)

    this.term.focus()
    // React may mount the next host before cleaning up the previous one; only the
    // latest attach may tear down.
    return () => {
      if (this.attachToken !== token) return
      this.attachToken = null
      this.observer?.disconnect()
      this.observer = null
    }
  }

  /** Live output (counted for flow control once xterm has parsed it). */
  write(data: string): void {
    if (this.disposed) return
    const generation = this.generation
    this.term.write(data, () => this.parsed(generation, data.length))
  }

  /** Shown or hidden: subscribes (replaying the scrollback) or unsubscribes. */
  setShown(shown: boolean): void {
    if (shown === this.shown || this.disposed) return
    this.shown = shown
    if (shown) void this.loadSnapshot()
    else this.unsubscribe()
  }

  /** Subscribe (again): the host's scrollback replaces what this xterm shows, live output follows. */
  async loadSnapshot(): Promise<void> {
    if (this.disposed || this.term.element === undefined || !this.shown) return
    const generation = ++this.generation
    this.loading = true
    this.subscribed = true
    this.unacked = 0
    this.onLoadStart()
    // (Re)send the size first, so the PTY matches this view (a resize may have been lost
    // while the host was away) and what follows the snapshot is drawn for this width.
    this.lastSize = { cols: 0, rows: 0 }
    this.fitNow()
    try {
      const { data } = await this.bridge.invoke('terminal.subscribe', { name: this.name })
      if (generation !== this.generation || this.disposed) return
      this.term.reset()
      this.term.write(data)
    } catch (error) {
      if (generation !== this.generation || this.disposed) return
      this.term.write(`\r\n\x1b[33m[relay] could not load scrollback: ${errorMessage(error)}\x1b[0m\r\n`)
    } finally {
      if (generation === this.generation) this.loading = false
    }
  }

  private unsubscribe(): void {
    if (!this.subscribed) return
    this.generation++
    this.subscribed = false
    this.loading = false
    this.unacked = 0
    this.onLoadStart()
    // Best effort: a link that is down has no subscriptions to drop.
    this.bridge.invoke('terminal.unsubscribe', { name: this.name }).catch(() => undefined)
  }

  private parsed(generation: number, chars: number): void {
    if (generation !== this.generation || !this.subscribed || this.disposed) return
    this.unacked += chars
    if (this.unacked < OUTPUT_ACK_CHARS) return
    const n = this.unacked
    this.unacked = 0
    this.bridge.invoke('terminal.ack', { name: this.name, chars: n }).catch(() => undefined)
  }

  dispose(): void {
    if (this.subscribed && !this.disposed) this.bridge.invoke('terminal.unsubscribe', { name: this.name }).catch(() => undefined)
    this.subscribed = false
    this.disposed = true
    this.observer?.disconnect()
    if (this.resizeTimer) clearTimeout(this.resizeTimer)
    this.term.dispose()
  }

  private sendInput(data: string): void {
    this.bridge.invoke('terminal.write', { name: this.name, data }).catch((error: unknown) => {
      // One warning per agent: a stopped agent would otherwise log on every keystroke.
      if (this.warnedWrite) return
      this.warnedWrite = true
      console.warn(`[terminal] input to ${this.name} was not delivered: ${errorMessage(error)}`)
    })
  }

  /** Debounced so a window drag sends one resize, not dozens (each one is a SIGWINCH redraw). */
  private scheduleFit(): void {
    if (this.resizeTimer) clearTimeout(this.resizeTimer)
    this.resizeTimer = setTimeout(() => {
      this.resizeTimer = null
      this.fitNow()
    }, RESIZE_DEBOUNCE_MS)
  }

  private fitNow(): void {
    if (this.disposed) return
    const element = this.term.element?.parentElement
    // A hidden tab measures 0×0; fitting then would shrink the PTY to nothing.
    if (!element || element.clientWidth === 0 || element.clientHeight === 0) return
    const dims = this.fit.proposeDimensions()
    if (!dims || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) return
    this.fit.fit()
    const cols = Math.min(1000, Math.max(2, this.term.cols))
    const rows = Math.min(1000, Math.max(1, this.term.rows))
    if (cols === this.lastSize.cols && rows === this.lastSize.rows) return
    this.lastSize = { cols, rows }
    this.bridge.invoke('terminal.resize', { name: this.name, cols, rows }).catch((error: unknown) => {
      // Forget the size so the next fit retries it.
      if (this.lastSize.cols === cols && this.lastSize.rows === rows) this.lastSize = { cols: 0, rows: 0 }
      console.warn(`[terminal] resize of ${this.name} failed: ${errorMessage(error)}`)
    })
  }
}
