/**
 * Find text in a terminal's buffer (scrollback + screen) with xterm's buffer API, since
 * @xterm/addon-search is not a dependency. Case-insensitive, one buffer line at a time
 * (a match that wraps across two rows is not found; wrapped rows are joined first so
 * that a long line wrapped by the terminal width still matches).
 */
export interface BufferLike {
  readonly length: number
  getLine(y: number): { translateToString(trimRight?: boolean): string; readonly isWrapped: boolean } | undefined
}

export interface Match {
  /** Buffer row of the match's first character. */
  row: number
  col: number
  length: number
}

/** Every match, top to bottom. Wrapped rows are searched as one logical line. */
export function findAll(buffer: BufferLike, query: string, limit = 5000): Match[] {
  const needle = query.toLowerCase()
  if (!needle) return []
  const out: Match[] = []
  let y = 0
  while (y < buffer.length && out.length < limit) {
    // Gather one logical line: this row plus the rows that continue it.
    const rows: string[] = []
    const start = y
    do {
      rows.push(buffer.getLine(y)?.translateToString(false) ?? '')
      y++
    } while (y < buffer.length && buffer.getLine(y)?.isWrapped)
    const width = rows[0].length || 1
    const text = rows.join('').toLowerCase()
    let from = 0
    for (;;) {
      const at = text.indexOf(needle, from)
      if (at < 0 || out.length >= limit) break
      out.push({ row: start + Math.floor(at / width), col: at % width, length: needle.length })
      from = at + Math.max(1, needle.length)
    }
  }
  return out
}

/** The next match after (or before) the current one, wrapping around. */
export function step(matches: readonly Match[], current: number, backwards: boolean): number {
  if (matches.length === 0) return -1
  if (current < 0) return backwards ? matches.length - 1 : 0
  return (current + (backwards ? -1 : 1) + matches.length) % matches.length
}
