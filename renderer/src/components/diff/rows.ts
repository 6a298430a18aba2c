/**
 * The diff as one flat list of fixed-height rows (file headers, hunk headers, lines, notes),
 * so a window of it can be drawn from prefix sums of heights: a 50,000-line diff costs the
 * DOM a screenful of rows. Also the line selection for review comments, kept in the file's
 * own line numbers so it survives a refetch that moves rows around.
 */
import type { AgentDiffInfo, DiffFileInfo, DiffLineInfo } from '../../../../shared/ipc'

export type Side = 'old' | 'new'

export type DiffRow =
  | { type: 'file'; key: string; file: number }
  | { type: 'hunk'; key: string; file: number; header: string }
  | { type: 'line'; key: string; file: number; line: DiffLineInfo }
  | { type: 'note'; key: string; file: number; note: 'binary' | 'truncated' | 'empty' }
  | { type: 'comment'; key: string; file: number }

/** Pixel heights; the stylesheet does not set them, the rows carry them inline. */
export const ROW_HEIGHT: Record<DiffRow['type'], number> = { file: 30, hunk: 22, line: 18, note: 22, comment: 136 }

export interface DiffRows {
  rows: DiffRow[]
  /** Index of each file's header row. */
  fileStart: number[]
}

export function buildRows(diff: AgentDiffInfo): DiffRows {
  const rows: DiffRow[] = []
  const fileStart: number[] = []
  diff.files.forEach((f, fi) => {
    fileStart.push(rows.length)
    const p = f.path
    rows.push({ type: 'file', key: `f\0${p}`, file: fi })
    if (f.binary) rows.push({ type: 'note', key: `b\0${p}`, file: fi, note: 'binary' })
    else if (f.hunks.length === 0 && !f.truncated) rows.push({ type: 'note', key: `e\0${p}`, file: fi, note: 'empty' })
    for (const h of f.hunks) {
      rows.push({ type: 'hunk', key: `h\0${p}\0${h.oldStart},${h.newStart}`, file: fi, header: h.header })
      for (const line of h.lines) rows.push({ type: 'line', key: `l\0${p}\0${line.oldLine ?? ''},${line.newLine ?? ''}`, file: fi, line })
    }
    if (f.truncated) rows.push({ type: 'note', key: `t\0${p}`, file: fi, note: 'truncated' })
  })
  return { rows, fileStart }
}

/** offsets[i] is the top of row i; offsets[rows.length] the total height. */
export function rowOffsets(rows: DiffRow[]): Float64Array {
  const offsets = new Float64Array(rows.length + 1)
  for (let i = 0; i < rows.length; i++) offsets[i + 1] = offsets[i] + ROW_HEIGHT[rows[i].type]
  return offsets
}

/** The row at pixel `y` (the last row whose top is at or above it). */
export function rowAt(offsets: Float64Array, y: number): number {
  const n = offsets.length - 1
  if (n <= 0) return 0
  let lo = 0
  let hi = n - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1
    if (offsets[mid] <= y) lo = mid
    else hi = mid - 1
  }
  return lo
}

export function lineOn(line: DiffLineInfo, side: Side): number | null {
  return side === 'old' ? line.oldLine : line.newLine
}

export function statusLabel(file: DiffFileInfo): string {
  return file.untracked ? 'untracked' : file.status
}

/** Lines `start`–`end` of one side of one file; `anchor` is where a shift-click extends from. */
export interface LineSelection {
  path: string
  side: Side
  anchor: number
  head: number
}

export function selectionRange(sel: LineSelection): { startLine: number; endLine: number } {
  return { startLine: Math.min(sel.anchor, sel.head), endLine: Math.max(sel.anchor, sel.head) }
}

/**
 * A click on line `n` of `side`: a new selection, or with shift an extension of the current
 * one when it is in the same file. A shift-click on the other side extends with that row's
 * number on the selection's side if it has one (a context line), else starts afresh.
 */
export function clickLine(sel: LineSelection | null, path: string, side: Side, line: DiffLineInfo, shift: boolean): LineSelection | null {
  const n = lineOn(line, side)
  if (n === null) return sel
  if (shift && sel && sel.path === path) {
    const onSelSide = lineOn(line, sel.side)
    if (onSelSide !== null) return { ...sel, head: onSelSide }
  }
  return { path, side, anchor: n, head: n }
}

export function isSelected(sel: LineSelection | null, path: string, line: DiffLineInfo): boolean {
  if (!sel || sel.path !== path) return false
  const n = lineOn(line, sel.side)
  if (n === null) return false
  const { startLine, endLine } = selectionRange(sel)
  return n >= startLine && n <= endLine
}

/**
 * Where the comment box goes: after the last row of the selection. -1 when the selected
 * lines are not in the diff (any more).
 */
export function commentAnchor(d: DiffRows, files: DiffFileInfo[], sel: LineSelection | null): number {
  if (!sel) return -1
  const fi = files.findIndex((f) => f.path === sel.path)
  if (fi < 0) return -1
  const end = fi + 1 < d.fileStart.length ? d.fileStart[fi + 1] : d.rows.length
  let last = -1
  for (let i = d.fileStart[fi]; i < end; i++) {
    const row = d.rows[i]
    if (row.type === 'line' && isSelected(sel, sel.path, row.line)) last = i
  }
  return last
}

export function withCommentRow(rows: DiffRow[], anchor: number, file: number): DiffRow[] {
  if (anchor < 0) return rows
  const out = rows.slice(0, anchor + 1)
  out.push({ type: 'comment', key: 'comment', file })
  for (let i = anchor + 1; i < rows.length; i++) out.push(rows[i])
  return out
}
