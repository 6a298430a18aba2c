/**
 * Per-agent staging for PTY bytes, outside React and zustand. Chunks that arrive within one
 * frame are joined and handed to xterm as a single write: xterm's parser is streaming, so
 * one write of the joined text renders the same as many small ones, for a fraction of the
 * work when an agent prints thousands of small chunks a second.
 */
import type { FrameScheduler } from './frame-scheduler'

export type OutputSink = (name: string, data: string) => void

/** Past this many pending characters an agent is flushed at once instead of waiting for a frame. */
const DEFAULT_MAX_PENDING = 1 << 20

export class OutputBuffer {
  private readonly chunks = new Map<string, string[]>()
  private readonly sizes = new Map<string, number>()
  private scheduled = false

  constructor(
    private readonly sink: OutputSink,
    private readonly schedule: FrameScheduler,
    private readonly maxPending = DEFAULT_MAX_PENDING,
  ) {}

  push(name: string, data: string): void {
    if (data.length === 0) return
    let list = this.chunks.get(name)
    if (!list) {
      list = []
      this.chunks.set(name, list)
    }
    list.push(data)
    const size = (this.sizes.get(name) ?? 0) + data.length
    this.sizes.set(name, size)
    // Bounded: a frame that is late (busy main thread, hidden window) must not let memory grow.
    if (size >= this.maxPending) {
      this.flushOne(name)
      return
    }
    if (this.scheduled) return
    this.scheduled = true
    this.schedule(() => {
      this.scheduled = false
      this.flush()
    })
  }

  flush(): void {
    for (const name of [...this.chunks.keys()]) this.flushOne(name)
  }

  /** Forget what is staged for an agent (its terminal is reloading or gone). */
  drop(name: string): void {
    this.chunks.delete(name)
    this.sizes.delete(name)
  }

  pendingSize(name: string): number {
    return this.sizes.get(name) ?? 0
  }

  private flushOne(name: string): void {
    const list = this.chunks.get(name)
    if (!list) return
    this.drop(name)
    this.sink(name, list.length === 1 ? list[0] : list.join(''))
  }
}
