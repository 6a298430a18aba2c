/**
 * Stopping an agent that runs in its own worktree: what becomes of the worktree. It shows
 * whether the worktree has uncommitted work (and which files), and deleting such work takes
 * an explicit second confirmation that names how many files are lost.
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react'
import type { WorktreeStatusInfo } from '../../../../shared/ipc'
import { BridgeError, errorMessage } from '../../bridge'
import { useAgentsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { Modal } from '../dialogs/Modal'

export type WorktreeChoice = 'keep' | 'remove-if-clean' | 'remove'

/** The host lists at most this many files; more means "at least". */
const FILES_LISTED = 200

export function fileCount(status: WorktreeStatusInfo): string {
  return status.files.length >= FILES_LISTED ? `${status.files.length}+` : String(status.files.length)
}

function files(n: string): string {
  return `${n} ${n === '1' ? 'file' : 'files'}`
}

export function StopDialog({ name }: { name: string }) {
  const { bridge } = useServices()
  const worktree = useAgentsStore((s) => s.byName[name]?.worktree)
  const close = useCallback(() => useUiStore.getState().openDialog(null), [])
  const [status, setStatus] = useState<WorktreeStatusInfo | null>(null)
  const [statusError, setStatusError] = useState<string | null>(null)
  const [choice, setChoice] = useState<WorktreeChoice>('keep')
  const [confirmDiscard, setConfirmDiscard] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  const load = useCallback(async () => {
    setStatusError(null)
    try {
      const next = await bridge.invoke('worktree.status', { name })
      setStatus(next)
      // What was confirmed was a different set of files.
      setConfirmDiscard(false)
    } catch (e) {
      setStatusError(errorMessage(e))
    }
  }, [bridge, name])

  useEffect(() => {
    void load()
  }, [load])

  const dirty = status !== null && !status.clean
  const count = status ? fileCount(status) : ''
  const needsConfirm = choice === 'remove' && dirty
  // A choice that the host would refuse for the work it has is not offered.
  const effectiveChoice: WorktreeChoice = choice === 'remove-if-clean' && dirty ? 'keep' : choice

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (busy || (needsConfirm && !confirmDiscard)) return
    setBusy(true)
    setError(null)
    try {
      await bridge.invoke('agents.stop', {
        name,
        worktree: effectiveChoice,
        ...(needsConfirm && confirmDiscard ? { discardChanges: true } : {}),
      })
      close()
    } catch (e) {
      setError(errorMessage(e))
      // The work changed since the dialog looked: show what is there now.
      if (e instanceof BridgeError && e.code === 'worktree_dirty') void load()
    } finally {
      setBusy(false)
    }
  }

  const option = (value: WorktreeChoice, label: string, detail: string, disabled = false) => (
    <label className={`form-check stop-option${disabled ? ' disabled' : ''}`}>
      <input
        type="radio"
        name="stop-worktree"
        value={value}
        data-testid={`stop-worktree-${value}`}
        checked={effectiveChoice === value}
        disabled={disabled}
        onChange={() => {
          setChoice(value)
          setError(null)
        }}
      />
      <span>
        {label}
        <span className="muted"> — {detail}</span>
      </span>
    </label>
  )

  let confirmLabel = 'Stop'
  if (effectiveChoice === 'remove-if-clean') confirmLabel = 'Stop and remove if clean'
  if (effectiveChoice === 'remove') confirmLabel = needsConfirm ? `Stop and delete ${files(count)} of work` : 'Stop and remove'

  return (
    <Modal title={`Stop ${name}`} onClose={close} testId="stop-dialog">
      <form className="form" onSubmit={submit}>
        {worktree && (
          <p className="muted stop-worktree-where" data-testid="stop-worktree-info">
            {name} works in its own worktree <span className="mono">{worktree.path}</span> on branch <span className="mono">{worktree.branch}</span>
            {status?.commits ? ` (${status.commits} ${status.commits === 1 ? 'commit' : 'commits'} since it started)` : ''}.
          </p>
        )}
        <div className="stop-status" data-testid="stop-worktree-status" data-state={status ? (status.clean ? 'clean' : 'dirty') : statusError ? 'error' : 'loading'} aria-live="polite">
          {!status && !statusError && <span className="muted">Checking the worktree for uncommitted work…</span>}
          {statusError && (
            <span className="inline-error" role="alert">
              Could not check the worktree: {statusError}{' '}
              <button type="button" className="small" onClick={() => void load()}>
                Retry
              </button>
            </span>
          )}
          {status?.clean && <span className="ok-text">No uncommitted work: nothing is lost by removing the worktree.</span>}
          {status && !status.clean && (
            <>
              <span className="warn-text">
                Uncommitted work in {files(count)} ({status.staged} staged, {status.unstaged} unstaged, {status.untracked} untracked):
              </span>
              <ul className="stop-files mono" data-testid="stop-worktree-files">
                {status.files.map((f) => (
                  <li key={f}>{f}</li>
                ))}
              </ul>
            </>
          )}
        </div>
        <fieldset>
          <legend>The worktree</legend>
          {option('keep', 'Keep', 'the worktree and its branch stay; you can look at or merge the work later')}
          {option('remove-if-clean', 'Remove if clean', dirty ? 'not possible: it has uncommitted work' : 'removed only if it has no uncommitted work', dirty)}
          {option('remove', 'Remove', dirty ? 'the worktree and its uncommitted work are deleted' : 'the worktree is deleted (the branch too, if it has no commits)')}
          {needsConfirm && (
            <label className="form-check discard-confirm">
              <input type="checkbox" data-testid="stop-worktree-confirm-discard" checked={confirmDiscard} onChange={(e) => setConfirmDiscard(e.target.checked)} />
              Yes, delete the uncommitted work in {files(count)}: it cannot be recovered
            </label>
          )}
        </fieldset>
        {error && (
          <p className="inline-error" role="alert" data-testid="stop-error">
            {error}
          </p>
        )}
        <footer className="form-actions">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" className={effectiveChoice === 'remove' ? 'danger' : 'primary'} data-testid="stop-confirm" disabled={busy || (needsConfirm && !confirmDiscard)}>
            {busy ? 'Stopping…' : confirmLabel}
          </button>
        </footer>
      </form>
    </Modal>
  )
}
