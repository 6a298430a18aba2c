/**
 * The review comment box under a selection in the diff. Its text lives in the diff pane, so
 * scrolling the box out of the drawn window (it unmounts) or a failed send loses nothing.
 * Enter or Ctrl+Enter sends, Shift+Enter is a new line, Escape closes.
 */
import { useEffect, useId, useRef, type KeyboardEvent, type MutableRefObject } from 'react'
import type { Side } from './rows'

interface CommentBoxProps {
  path: string
  side: Side
  startLine: number
  endLine: number
  height: number
  width: number | undefined
  draft: string
  setDraft(text: string): void
  error: string | null
  sending: boolean
  /** Set when a new selection opened the box: take the focus once. */
  focusOnMount: MutableRefObject<boolean>
  onSend(): void
  onCancel(): void
}

export function lineRangeText(startLine: number, endLine: number): string {
  return startLine === endLine ? `line ${startLine}` : `lines ${startLine}–${endLine}`
}

export function CommentBox(props: CommentBoxProps) {
  const { path, side, startLine, endLine, draft, error, sending } = props
  const input = useRef<HTMLTextAreaElement>(null)
  const id = useId()
  useEffect(() => {
    if (!props.focusOnMount.current) return
    props.focusOnMount.current = false
    input.current?.focus()
  })

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === 'Escape') {
      e.preventDefault()
      // Handled here: the diff body must not see it twice.
      e.stopPropagation()
      props.onCancel()
      return
    }
    // Enter confirming an IME composition must not send.
    if (e.key !== 'Enter' || e.nativeEvent.isComposing) return
    if (e.shiftKey && !(e.ctrlKey || e.metaKey)) return
    e.preventDefault()
    props.onSend()
  }

  const where = `${path}, ${side === 'old' ? 'base' : 'new'} ${lineRangeText(startLine, endLine)}`
  return (
    <div className="review-comment" style={{ height: props.height, width: props.width }} data-testid="review-comment" data-path={path} data-side={side} data-start={startLine} data-end={endLine}>
      <label htmlFor={id} className="review-comment-label">
        Comment to the agent on <span className="mono">{where}</span>
      </label>
      <textarea
        id={id}
        ref={input}
        data-testid="review-comment-input"
        value={draft}
        onChange={(e) => props.setDraft(e.target.value)}
        onKeyDown={onKeyDown}
        placeholder="What should change here? (Enter sends, Shift+Enter for a new line, Escape closes)"
        rows={3}
        aria-invalid={error ? true : undefined}
      />
      <div className="review-comment-actions">
        {error ? (
          <span className="inline-error" role="alert" data-testid="review-comment-error">
            {error}
          </span>
        ) : (
          <span className="muted">Sent as a relay message; it shows in the feed.</span>
        )}
        <span className="spacer" />
        <button type="button" className="small" onClick={props.onCancel} data-testid="review-comment-cancel">
          Cancel
        </button>
        <button type="button" className="primary small" onClick={props.onSend} disabled={sending} data-testid="review-comment-send">
          {sending ? 'Sending…' : 'Send'}
        </button>
      </div>
    </div>
  )
}
