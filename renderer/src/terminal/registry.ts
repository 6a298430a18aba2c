/**
 * All xterm runtimes, by agent name. Implements both faces the app needs: the stores push
 * output into it (TerminalSink) and React lends it host elements (TerminalHost).
 *
 * Output for an agent whose terminal was never opened is not kept: opening fetches the
 * host's scrollback snapshot, which already holds it, so a second copy here would only cost
 * memory for every agent nobody is looking at. Once opened, a terminal stays alive (hidden)
 * when another tab is selected and keeps receiving output, so switching back is instant.
 */
import type { Bridge } from '../bridge'
import type { TerminalSink } from '../stores'
import { animationFrameScheduler, type FrameScheduler } from './frame-scheduler'
import { OutputBuffer } from './output-buffer'
import { TerminalRuntime, type FindResult } from './runtime'
import type { TerminalHost } from './types'

export class TerminalRegistry implements TerminalSink, TerminalHost {
  private readonly runtimes = new Map<string, TerminalRuntime>()
  private readonly buffer: OutputBuffer

  constructor(
    private readonly bridge: Bridge,
    schedule: FrameScheduler = animationFrameScheduler,
  ) {
    this.buffer = new OutputBuffer((name, data) => this.runtimes.get(name)?.write(data), schedule)
  }

  attach(name: string, element: HTMLElement): () => void {
    let runtime = this.runtimes.get(name)
    if (!runtime) {
      runtime = new TerminalRuntime(name, this.bridge, () => this.buffer.drop(name))
      this.runtimes.set(name, runtime)
    }
    return runtime.attach(element)
  }

  output(name: string, data: string): void {
    if (this.runtimes.get(name)?.live) this.buffer.push(name, data)
  }

  removed(name: string): void {
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
