/**
 * A headless terminal per agent (@xterm/headless, the same parser the renderer uses),
 * so the relay reads the screen the user sees instead of guessing from a byte tail.
 * VS Code's pty host keeps one per terminal for the same reason.
 *
 * xterm parses asynchronously; `settled()` resolves once everything written so far is
 * on the screen. `view()` is cached until the next parse.
 */
import { Terminal, type IBufferCell } from '@xterm/headless'
import type { ScreenView } from './types'

export interface ScreenModelOptions {
  cols?: number
  rows?: number
  /** Called after written bytes were parsed (at most once per parse batch). */
  onChange?: () => void
}

export class ScreenModel {
  private readonly term: Terminal
  private cached: ScreenView | undefined
  private pendingWrites = 0
  private readonly idleWaiters: Array<() => void> = []
  private disposed = false

  constructor(private readonly opts: ScreenModelOptions = {}) {
    this.term = new Terminal({ cols: opts.cols ?? 100, rows: opts.rows ?? 30, scrollback: 0, allowProposedApi: true })
  }

  write(data: string): void {
    if (this.disposed) return
    this.pendingWrites++
    this.term.write(data, () => {
      this.pendingWrites--
      this.cached = undefined
      if (this.pendingWrites === 0) {
        for (const w of this.idleWaiters.splice(0)) w()
        this.opts.onChange?.()
      }
    })
  }

  resize(cols: number, rows: number): void {
    if (this.disposed) return
    this.term.resize(cols, rows)
    this.cached = undefined
  }

  /** Resolves when every byte written so far has been parsed. */
  settled(): Promise<void> {
    if (this.pendingWrites === 0 || this.disposed) return Promise.resolve()
    return new Promise((r) => this.idleWaiters.push(r))
  }

  view(): ScreenView {
    if (this.cached) return this.cached
    const buf = this.term.buffer.active
    const lines: string[] = []
    const solid: string[] = []
    let cell: IBufferCell | undefined
    for (let y = 0; y < this.term.rows; y++) {
      const line = buf.getLine(buf.viewportY + y)
      if (!line) {
        lines.push('')
        solid.push('')
        continue
      }
      let text = ''
      let firm = ''
      for (let x = 0; x < this.term.cols; x++) {
        cell = line.getCell(x, cell)
        if (!cell) break
        if (cell.getWidth() === 0) continue // the right half of a wide character
        const ch = cell.getChars() || ' '
        text += ch
        firm += isFaint(cell) ? ' '.repeat(ch.length) : ch
      }
      lines.push(text.trimEnd())
      solid.push(firm.trimEnd())
    }
    this.cached = { cols: this.term.cols, rows: this.term.rows, lines, solid, cursorX: buf.cursorX, cursorY: buf.cursorY }
    return this.cached
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    for (const w of this.idleWaiters.splice(0)) w()
    this.term.dispose()
  }
}

/** Dim, bright-black, or a grey foreground: how TUIs draw placeholders and hints. */
export function isFaint(cell: IBufferCell): boolean {
  if (cell.isDim()) return true
  if (cell.isFgPalette()) {
    const c = cell.getFgColor()
    // 8: bright black; 238–250: the grey ramp; 59, 102, 145: the greys of the colour cube.
    return c === 8 || (c >= 238 && c <= 250) || c === 59 || c === 102 || c === 145
  }
  if (cell.isFgRGB()) {
    const c = cell.getFgColor()
    const r = (c >> 16) & 0xff
    const g = (c >> 8) & 0xff
    const b = c & 0xff
    // A grey (channels close together), darker than ordinary text.
    return Math.max(r, g, b) - Math.min(r, g, b) < 24 && Math.max(r, g, b) < 170 && Math.max(r, g, b) > 60
  }
  return false
}
