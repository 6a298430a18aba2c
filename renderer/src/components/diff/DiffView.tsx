/**
 * An agent's changes against the base of its worktree: a file list and the unified diff,
 * drawn as a window of fixed-height rows (rows.ts) so tens of thousands of lines scroll
 * smoothly. Click a line number to select it, shift-click to extend (one file, one side);
 * a comment box opens under the selection and sends a review comment to the agent.
 * Refetched when the host says the files changed; scroll position (by the row at the top)
 * and the selection (by line numbers) survive a refetch where those rows still exist.
 */
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type MouseEvent, type ReactElement } from 'react'
import { parseRequest, type AgentDiffInfo, type DiffFileInfo, type DiffLineInfo } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { refreshDiff, useDiffStore, useFeedStore } from '../../stores'
import { useServices } from '../app/services'
import { CommentBox } from './CommentBox'
import {
  buildRows,
  clickLine,
  commentAnchor,
  isSelected,
  lineOn,
  ROW_HEIGHT,
  rowAt,
  rowOffsets,
  selectionRange,
  statusLabel,
  withCommentRow,
  type DiffRow,
  type LineSelection,
  type Side,
} from './rows'

/** Used until the scroller has a size (and in DOMs without layout, such as tests). */
const FALLBACK_VIEWPORT_PX = 800
/** Rows drawn beyond each edge of the viewport, so a fast scroll does not show blanks. */
const OVERSCAN_PX = 360

export function DiffView({ name }: { name: string }) {
  const { bridge } = useServices()
  const entry = useDiffStore((s) => s.byName[name])
  const version = useDiffStore((s) => s.versions[name] ?? 0)
  // On open, and each time the host says the worktree changed (coalesced in refreshDiff).
  useEffect(() => {
    void refreshDiff(bridge, name)
  }, [bridge, name, version])

  const diff = entry?.diff ?? null
  return (
    <div className="diff-view" data-testid="diff-view" data-agent={name} data-loading={entry?.loading ? 'true' : 'false'}>
      <div className="diff-summary" data-testid="diff-summary">
        {diff ? (
          <>
            <span className="mono">⎇ {diff.branch}</span>
            <span className="muted">
              base <span className="mono">{diff.baseCommit.slice(0, 8)}</span>
              {diff.commits ? ` · ${diff.commits} ${diff.commits === 1 ? 'commit' : 'commits'}` : ''}
            </span>
            <span>
              {diff.files.length} {diff.files.length === 1 ? 'file' : 'files'} <span className="diff-plus">+{diff.additions}</span> <span className="diff-minus">−{diff.deletions}</span>
            </span>
          </>
        ) : (
          !entry?.error && <span className="muted">Loading the changes…</span>
        )}
        <span className="spacer" />
        {entry?.loading && diff && <span className="muted">updating…</span>}
        <button type="button" className="small" data-testid="diff-refresh" onClick={() => void refreshDiff(bridge, name)} disabled={entry?.loading}>
          Refresh
        </button>
      </div>
      {entry?.error && (
        <p className="inline-error diff-error" role="alert" data-testid="diff-error">
          Could not read the changes: {entry.error}
        </p>
      )}
      {diff?.truncated && (
        <p className="diff-warning" data-testid="diff-truncated">
          Some files changed too much to show whole: their diffs are cut short where marked.
        </p>
      )}
      {diff && diff.files.length === 0 && (
        <p className="empty" data-testid="diff-empty">
          No changes against {diff.baseCommit.slice(0, 8)} yet.
        </p>
      )}
      {diff && diff.files.length > 0 && <DiffPane name={name} diff={diff} />}
    </div>
  )
}

function DiffPane({ name, diff }: { name: string; diff: AgentDiffInfo }) {
  const { bridge } = useServices()
  const base = useMemo(() => buildRows(diff), [diff])
  const [sel, setSel] = useState<LineSelection | null>(null)
  // Lives here, not in the box: the box unmounts when scrolled out of the window.
  const [draft, setDraft] = useState('')
  const [commentError, setCommentError] = useState<string | null>(null)
  const [sending, setSending] = useState(false)
  const focusComment = useRef(false)

  const anchor = useMemo(() => commentAnchor(base, diff.files, sel), [base, diff.files, sel])
  const rows = useMemo(() => withCommentRow(base.rows, anchor, anchor >= 0 ? base.rows[anchor].file : 0), [base.rows, anchor])
  const offsets = useMemo(() => rowOffsets(rows), [rows])
  const total = offsets[rows.length]

  const scrollRef = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [viewport, setViewport] = useState(FALLBACK_VIEWPORT_PX)
  // The comment box spans the visible width, not the (wider) longest line.
  const [viewportWidth, setViewportWidth] = useState<number | undefined>(undefined)
  useLayoutEffect(() => {
    const el = scrollRef.current
    if (!el) return
    const measure = () => {
      setViewport(el.clientHeight || FALLBACK_VIEWPORT_PX)
      setViewportWidth(el.clientWidth || undefined)
    }
    measure()
    if (typeof ResizeObserver === 'undefined') return
    const observer = new ResizeObserver(measure)
    observer.observe(el)
    return () => observer.disconnect()
  }, [])

  // Keep the row at the top of the view in place when rows change (a refetch, the comment
  // box opening or closing), so the text being read does not jump.
  const previous = useRef<{ rows: DiffRow[]; offsets: Float64Array } | null>(null)
  useLayoutEffect(() => {
    const el = scrollRef.current
    const before = previous.current
    previous.current = { rows, offsets }
    if (!el || !before || before.rows === rows) return
    const top = el.scrollTop
    const i = rowAt(before.offsets, top)
    const key = before.rows[i]?.key
    let next = Math.min(top, Math.max(0, total - el.clientHeight))
    if (key !== undefined) {
      const j = rows[i]?.key === key ? i : rows.findIndex((r) => r.key === key)
      if (j >= 0) next = offsets[j] + Math.min(top - before.offsets[i], ROW_HEIGHT[rows[j].type])
    }
    if (next !== top) el.scrollTop = next
    setScrollTop(el.scrollTop)
  }, [rows, offsets, total])

  const top = Math.min(scrollTop, total)
  const first = rowAt(offsets, Math.max(0, top - OVERSCAN_PX))
  const last = Math.min(rows.length - 1, rowAt(offsets, top + viewport + OVERSCAN_PX))
  const currentFile = rows.length ? rows[rowAt(offsets, top)].file : 0

  const fileRow = (fi: number) => base.fileStart[fi] + (anchor >= 0 && base.fileStart[fi] > anchor ? 1 : 0)
  function jumpToFile(fi: number) {
    const el = scrollRef.current
    if (!el) return
    el.scrollTop = offsets[fileRow(fi)]
    setScrollTop(el.scrollTop)
  }

  const select = useCallback((path: string, side: Side, line: DiffLineInfo, shift: boolean) => {
    setSel((current) => {
      const next = clickLine(current, path, side, line, shift)
      if (next && (!current || next.path !== current.path || next.side !== current.side || next.anchor !== current.anchor)) focusComment.current = true
      return next
    })
    setCommentError(null)
  }, [])

  const cancel = useCallback(() => {
    setSel(null)
    setCommentError(null)
  }, [])

  async function send() {
    if (!sel || sending) return
    const { startLine, endLine } = selectionRange(sel)
    const request = { name, path: sel.path, side: sel.side, startLine, endLine, comment: draft.trim() }
    const checked = parseRequest('review.comment', request)
    if (!checked.ok) {
      setCommentError(checked.error.message.replace(/^comment: /, ''))
      return
    }
    setSending(true)
    setCommentError(null)
    try {
      const message = await bridge.invoke('review.comment', request)
      useFeedStore.getState().upsert([message])
      setDraft('')
      setSel(null)
    } catch (e) {
      // The text stays so nothing typed is lost.
      setCommentError(errorMessage(e))
    } finally {
      setSending(false)
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLDivElement>) {
    if (e.key === 'Escape' && sel) {
      e.preventDefault()
      cancel()
    }
  }

  const drawn: ReactElement[] = []
  for (let i = first; i <= last; i++) {
    const row = rows[i]
    const file = diff.files[row.file]
    if (row.type === 'comment' && sel) {
      const { startLine, endLine } = selectionRange(sel)
      drawn.push(
        <CommentBox
          key="comment"
          path={sel.path}
          side={sel.side}
          startLine={startLine}
          endLine={endLine}
          height={ROW_HEIGHT.comment}
          width={viewportWidth}
          draft={draft}
          setDraft={setDraft}
          error={commentError}
          sending={sending}
          focusOnMount={focusComment}
          onSend={() => void send()}
          onCancel={cancel}
        />,
      )
    } else if (row.type === 'line') {
      drawn.push(<LineRow key={row.key} path={file.path} line={row.line} selected={isSelected(sel, file.path, row.line)} selSide={sel?.path === file.path ? sel.side : null} select={select} />)
    } else if (row.type === 'file') {
      drawn.push(<FileHeader key={row.key} file={file} />)
    } else if (row.type === 'hunk') {
      drawn.push(
        <div key={row.key} className="diff-hunk mono" style={{ height: ROW_HEIGHT.hunk }} data-testid="diff-hunk">
          {row.header}
        </div>,
      )
    } else if (row.type === 'note') {
      drawn.push(
        <div key={row.key} className={`diff-note diff-note-${row.note}`} style={{ height: ROW_HEIGHT.note }} data-testid={`diff-${row.note}`} data-path={file.path}>
          {row.note === 'binary' && 'Binary file: its contents are not shown.'}
          {row.note === 'truncated' && '… the rest of this file’s diff is cut short: too large to show.'}
          {row.note === 'empty' && (file.status === 'renamed' || file.status === 'copied' ? `${file.status} without changes to its lines` : 'no line changes')}
        </div>,
      )
    }
  }

  return (
    <div className="diff-split">
      <ul className="diff-files" aria-label="changed files" data-testid="diff-files">
        {diff.files.map((f, fi) => (
          <li key={f.path} data-testid="diff-file" data-path={f.path} data-status={statusLabel(f)} className={fi === currentFile ? 'current' : undefined}>
            <button type="button" onClick={() => jumpToFile(fi)} title={f.oldPath ? `${f.oldPath} → ${f.path}` : f.path}>
              <span className={`diff-status st-${statusLabel(f)}`}>{statusLabel(f)}</span>
              <span className="diff-path mono">{f.path}</span>
              {f.binary ? (
                <span className="diff-status st-binary">binary</span>
              ) : (
                <span className="diff-counts">
                  <span className="diff-plus">+{f.additions}</span> <span className="diff-minus">−{f.deletions}</span>
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
      <div
        className="diff-body"
        ref={scrollRef}
        tabIndex={-1}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        onKeyDown={onKeyDown}
        data-testid="diff-body"
        data-rows={rows.length}
      >
        <div className="diff-canvas" style={{ height: total }}>
          <div className="diff-window" style={{ transform: `translateY(${offsets[first] ?? 0}px)` }}>
            {drawn}
          </div>
        </div>
      </div>
    </div>
  )
}

function FileHeader({ file }: { file: DiffFileInfo }) {
  return (
    <div className="diff-file-header" style={{ height: ROW_HEIGHT.file }} data-testid="diff-file-header" data-path={file.path}>
      <span className={`diff-status st-${statusLabel(file)}`}>{statusLabel(file)}</span>
      <span className="mono diff-path">{file.oldPath && file.oldPath !== file.path ? `${file.oldPath} → ${file.path}` : file.path}</span>
      {file.binary ? <span className="diff-status st-binary">binary</span> : null}
      <span className="diff-counts">
        <span className="diff-plus">+{file.additions}</span> <span className="diff-minus">−{file.deletions}</span>
      </span>
      {file.truncated && <span className="diff-status st-truncated">truncated</span>}
    </div>
  )
}

const SIGN = { add: '+', del: '-', context: ' ' } as const

interface LineRowProps {
  path: string
  line: DiffLineInfo
  selected: boolean
  /** The side a selection in this file is on (its other gutter is not highlighted). */
  selSide: Side | null
  select(path: string, side: Side, line: DiffLineInfo, shift: boolean): void
}

const LineRow = memo(function LineRow({ path, line, selected, selSide, select }: LineRowProps) {
  const gutter = (side: Side) => {
    const n = lineOn(line, side)
    if (n === null) return <span className="diff-gutter" />
    return (
      <button
        type="button"
        className={`diff-gutter${selected && selSide === side ? ' selected' : ''}`}
        data-testid="diff-line"
        data-path={path}
        data-side={side}
        data-line={n}
        data-kind={line.kind}
        aria-label={`${side === 'old' ? 'base' : 'new'} line ${n} of ${path}`}
        aria-pressed={selected && selSide === side}
        title="select this line (shift-click to extend) to comment on it"
        // Shift-click extends the selection; it should not also select text.
        onMouseDown={(e: MouseEvent) => e.shiftKey && e.preventDefault()}
        onClick={(e) => select(path, side, line, e.shiftKey)}
      >
        {n}
      </button>
    )
  }
  return (
    <div className={`diff-row diff-${line.kind}${selected ? ' selected' : ''}`} style={{ height: ROW_HEIGHT.line }} data-testid="diff-row" data-kind={line.kind}>
      {gutter('old')}
      {gutter('new')}
      <span className="diff-sign" aria-hidden>
        {SIGN[line.kind]}
      </span>
      <span className="diff-text">
        {line.text}
        {line.cut && (
          <span className="diff-marker" title="this line is too long to show whole" data-testid="diff-cut">
            … cut
          </span>
        )}
        {line.noNewline && (
          <span className="diff-marker" title="no newline at end of file">
            ⏎ no newline at end of file
          </span>
        )}
      </span>
    </div>
  )
})
