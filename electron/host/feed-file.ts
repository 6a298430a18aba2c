/**
 * The feed's history on disk: the FeedBook (already bounded) written as one JSON file,
 * debounced, so a burst of delivery steps costs one write and a quit flushes the rest.
 * Superset's scrollback-per-chunk write (#3235) is the failure mode this avoids.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { z } from 'zod'
import { feedMessageSchema, type FeedMessage } from '../../shared/ipc'
import { writeJsonAtomic } from './settings'

const fileSchema = z.object({ version: z.literal(1), messages: z.array(feedMessageSchema) })

export class FeedFile {
  private timer: ReturnType<typeof setTimeout> | undefined
  private dirty = false

  constructor(
    private readonly path: string,
    private readonly snapshot: () => FeedMessage[],
    private readonly delayMs = 1000,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  load(): FeedMessage[] {
    if (!existsSync(this.path)) return []
    try {
      return fileSchema.parse(JSON.parse(readFileSync(this.path, 'utf8'))).messages
    } catch (err) {
      const aside = `${this.path}.corrupt-${Date.now()}`
      renameSync(this.path, aside)
      this.log(`${this.path} could not be read (${(err as Error).message}); moved it to ${aside}`)
      return []
    }
  }

  /** Something changed: write within delayMs (one write per burst). */
  touch(): void {
    this.dirty = true
    if (this.timer) return
    this.timer = setTimeout(() => this.flush(), this.delayMs)
    this.timer.unref?.()
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.dirty) return
    this.dirty = false
    try {
      // Messages still `sending` belong to a process that is gone; keep what reached the engine.
      const messages = this.snapshot().filter((m) => m.state !== 'sending')
      writeJsonAtomic(this.path, { version: 1, messages }, 0o600, false)
    } catch (err) {
      this.log(`could not save the message feed: ${(err as Error).message}`)
    }
  }
}
