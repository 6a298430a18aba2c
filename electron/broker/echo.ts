/**
 * Reading a plain terminal's byte stream: whether typed text came back (its echo), and
 * whether a dim auto-suggestion is on the prompt line. For programs whose screen Relay
 * cannot read; agent CLIs are read from their screen instead (screen/).
 */
import { ANSI_SEQUENCE } from './files'

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
