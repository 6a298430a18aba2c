/**
 * All xterm runtimes, by agent name. Implements both faces the app needs: the stores push
 * output into it (TerminalSink) and React lends it host elements (TerminalHost).
 *
 * Only terminals on screen receive output: a terminal is subscribed while its tab is
 * selected and the page is visible, and unsubscribed otherwise (the host then sends none of
 * its bytes). Showing it again replays the host's scrollback. An opened terminal keeps its
 * xterm while hidden, so nothing is re-created.
 */
import type { Bridge } from '../bridge'
import type { TerminalSink } from '../stores'
import { microtaskScheduler, type FrameScheduler } from './frame-scheduler'
import { OutputBuffer } from './output-buffer'
import { TerminalRuntime, type FindResult } from './runtime'
import type { TerminalHost } from './types'

export class TerminalRegistry implements TerminalSink, TerminalHost {
  private readonly runtimes = new Map<string, TerminalRuntime>()
  private readonly buffer: OutputBuffer

  private readonly selected = new Set<string>()
  private pageVisible = typeof document === 'undefined' || !document.hidden

  constructor(
    private readonly bridge: Bridge,
    schedule: FrameScheduler = microtaskScheduler,
  ) {
    this.buffer = new OutputBuffer((name, data) => this.runtimes.get(name)?.write(data), schedule)
    if (typeof document !== 'undefined') {
      // A hidden window (closed to the tray, minimised) shows nothing: no bytes for it.
      document.addEventListener('visibilitychange', () => {
        this.pageVisible = !document.hidden
        for (const [name, runtime] of this.runtimes) runtime.setShown(this.pageVisible && this.selected.has(name))
      })
    }
  }

  attach(name: string, element: HTMLElement): () => void {
    let runtime = this.runtimes.get(name)
    if (!runtime) {
      runtime = new TerminalRuntime(name, this.bridge, () => this.buffer.drop(name))
      this.runtimes.set(name, runtime)
    }
    const detach = runtime.attach(element)
    runtime.setShown(this.pageVisible && this.selected.has(name))
    return detach
  }

  /** Whether the agent's terminal is the one on screen (its tab selected). */
  setVisible(name: string, visible: boolean): void {
    if (visible) this.selected.add(name)
    else this.selected.delete(name)
    this.runtimes.get(name)?.setShown(this.pageVisible && visible)
  }

  output(name: string, data: string): void {
    if (this.runtimes.get(name)?.live) this.buffer.push(name, data)
  }

  removed(name: string): void {
    this.selected.delete(name)
    this.buffer.drop(name)
    this.runtimes.get(name)?.dispose()
    this.runtimes.delete(name)
  }

  find(name: string, query: string, backwards = false): FindResult {
    return this.runtimes.get(name)?.find(query, backwards) ?? { index: 0, total: 0 }
  }

  clearFind(name: string): void {
    this.runtimes.get(name)?.clearFind()
  }

  copySelection(name: string): boolean {
    return this.runtimes.get(name)?.copySelection() ?? false
  }

  resync(): void {
    for (const runtime of this.runtimes.values()) void runtime.loadSnapshot()
  }
}
