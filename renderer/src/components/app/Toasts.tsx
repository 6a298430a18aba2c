import { useEffect } from 'react'
import type { AppNotification } from '../../../../shared/ipc'
import { useToastStore, useUiStore } from '../../stores'

const TOAST_MS = 8000

/** Headless mode's notifications: top right, newest first, gone after a few seconds or on click. */
export function Toasts() {
  const toasts = useToastStore((s) => s.toasts)
  return (
    <div className="toasts" aria-live="polite">
      {toasts.map((t) => (
        <Toast key={t.id} toast={t} />
      ))}
    </div>
  )
}

function Toast({ toast }: { toast: AppNotification }) {
  const dismiss = useToastStore((s) => s.dismiss)
  useEffect(() => {
    const timer = setTimeout(() => dismiss(toast.id), TOAST_MS)
    return () => clearTimeout(timer)
  }, [toast.id, dismiss])
  function open() {
    if (toast.agent) useUiStore.getState().select(toast.agent)
    dismiss(toast.id)
  }
  return (
    <div className={`toast toast-${toast.kind}`} role="status" data-testid="toast" data-kind={toast.kind} data-agent={toast.agent}>
      <button type="button" className="toast-body" onClick={open}>
        <strong>{toast.title}</strong>
        <span>{toast.body}</span>
      </button>
      <button type="button" className="toast-close" aria-label="dismiss" onClick={() => dismiss(toast.id)}>
        ×
      </button>
    </div>
  )
}
