import { useEffect, useState } from 'react'
import { errorMessage } from '../../bridge'
import { useNodeStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'

/** "just now", "12 s ago", "3 min ago": how long since the node last proved it was alive. */
export function heartbeatAge(at: number | undefined, now: number): string {
  if (at === undefined) return 'none yet'
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 2) return 'just now'
  if (s < 90) return `${s} s ago`
  return `${Math.round(s / 60)} min ago`
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs)
    return () => clearInterval(t)
  }, [intervalMs])
  return now
}

export function NodeStatusBar() {
  const status = useNodeStore((s) => s.status)
  const { bridge } = useServices()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const now = useNow(1000)

  async function reconnect() {
    setBusy(true)
    setError(null)
    try {
      await bridge.invoke('node.reconnect', {})
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  // Before the first status arrives the node is, as far as anyone can tell, starting.
  const state = status?.state ?? 'starting'
  return (
    <header className="status-bar" data-testid="node-status" data-state={state}>
      <span className={`state-pill state-${state}`} title={status?.reason}>
        {state}
      </span>
      {status?.reason && <span className="status-reason">{status.reason}</span>}
      {status ? (
        <>
          <Field label="node" value={status.nodeName} title={status.nodeId} />
          <Field label="id" value={status.nodeId} title={status.nodeId} mono clip />
          <Field label="engine" value={status.engineUrl} mono />
          <span className="status-tag">{status.embeddedEngine ? 'embedded' : 'remote'}</span>
          {status.workspaceId && <Field label="workspace" value={status.workspaceId} mono />}
          <Field label="agents online" value={String(status.agentsOnline)} />
          <span className="status-field" data-testid="node-heartbeat" title={status.lastHeartbeatAt ? new Date(status.lastHeartbeatAt).toLocaleString() : undefined}>
            <span className="label">heartbeat</span> {heartbeatAge(status.lastHeartbeatAt, now)}
          </span>
          {(status.userUnread ?? 0) > 0 && (
            <span className="status-tag unread" data-testid="node-unread">
              {status.userUnread} for you
            </span>
          )}
        </>
      ) : (
        <span className="status-reason">waiting for host…</span>
      )}
      <span className="spacer" />
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
      <button type="button" onClick={reconnect} disabled={busy} data-testid="node-reconnect">
        Reconnect
      </button>
      <button type="button" onClick={() => useUiStore.getState().openDialog('settings')} data-testid="settings-open" title="Settings">
        Settings
      </button>
    </header>
  )
}

function Field({ label, value, title, mono, clip }: { label: string; value: string; title?: string; mono?: boolean; clip?: boolean }) {
  return (
    <span className={clip ? 'status-field clip' : 'status-field'} title={title}>
      <span className="label">{label}</span> <span className={mono ? 'mono' : undefined}>{value}</span>
    </span>
  )
}
