import { useState } from 'react'
import { errorMessage } from '../../bridge'
import { useNodeStore } from '../../stores'
import { useServices } from '../app/services'

export function NodeStatusBar() {
  const status = useNodeStore((s) => s.status)
  const { bridge } = useServices()
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

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
          <Field label="id" value={status.nodeId} mono />
          <Field label="engine" value={status.engineUrl} mono />
          <span className="status-tag">{status.embeddedEngine ? 'embedded' : 'remote'}</span>
          {status.workspaceId && <Field label="workspace" value={status.workspaceId} mono />}
          <Field label="agents online" value={String(status.agentsOnline)} />
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
    </header>
  )
}

function Field({ label, value, title, mono }: { label: string; value: string; title?: string; mono?: boolean }) {
  return (
    <span className="status-field" title={title}>
      <span className="label">{label}</span> <span className={mono ? 'mono' : undefined}>{value}</span>
    </span>
  )
}
