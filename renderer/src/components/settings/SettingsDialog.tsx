/**
 * Settings: which engine (built-in, or a team's with its URL and workspace key), the node's
 * name, which notifications to get, start at login and close to tray. The key is
 * write-only: the host says whether one is set, never what it is.
 */
import { useState, type FormEvent } from 'react'
import { parseRequest, type CommandRequest, type NotificationKind, type SettingsView } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { useSettingsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { Modal } from '../dialogs/Modal'

const KINDS: Array<[NotificationKind, string]> = [
  ['agentExited', 'An agent exits or crashes'],
  ['agentIdle', 'An agent is waiting for input'],
  ['agentBlocked', 'An agent asks for approval or shows a dialog'],
  ['messageToUser', 'A message arrives for you'],
  ['deliveryFailed', 'A delivery fails'],
]

export function SettingsDialog() {
  const { bridge } = useServices()
  const close = () => useUiStore.getState().openDialog(null)
  const current = useSettingsStore((s) => s.settings)
  const app = useSettingsStore((s) => s.app)
  if (!current) {
    return (
      <Modal title="Settings" onClose={close} testId="settings-dialog">
        <p className="muted">Loading…</p>
      </Modal>
    )
  }
  return <SettingsForm key={JSON.stringify(current)} current={current} canStartAtLogin={app?.canStartAtLogin ?? false} bridge={bridge} close={close} />
}

function SettingsForm({ current, canStartAtLogin, bridge, close }: { current: SettingsView; canStartAtLogin: boolean; bridge: ReturnType<typeof useServices>['bridge']; close: () => void }) {
  const [mode, setMode] = useState(current.engine.mode)
  const [url, setUrl] = useState(current.engine.url ?? '')
  const [key, setKey] = useState('')
  const [nodeName, setNodeName] = useState(current.nodeName ?? '')
  const [notifications, setNotifications] = useState(current.notifications)
  const [startAtLogin, setStartAtLogin] = useState(current.startAtLogin)
  const [closeToTray, setCloseToTray] = useState(current.closeToTray)
  const [skipPermissionPrompts, setSkipPermissionPrompts] = useState(current.skipPermissionPrompts)
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState<SettingsView | null>(null)
  const [busy, setBusy] = useState(false)
  const view = saved ?? current

  async function save(event: FormEvent) {
    event.preventDefault()
    const request: CommandRequest<'settings.set'> = {
      nodeName: nodeName.trim(),
      notifications,
      closeToTray,
      skipPermissionPrompts,
      ...(canStartAtLogin ? { startAtLogin } : {}),
    }
    if (!current.engineOverridden) {
      request.engine = mode === 'embedded' ? { mode } : { mode, url: url.trim(), ...(key.trim() ? { workspaceKey: key.trim() } : {}) }
    }
    const checked = parseRequest('settings.set', request)
    if (!checked.ok) {
      setError(checked.error.message)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const next = await bridge.invoke('settings.set', request)
      useSettingsStore.getState().setSettings(next)
      setSaved(next)
      setKey('')
      if (!next.restartRequired) close()
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  async function restartNode() {
    setBusy(true)
    setError(null)
    try {
      await bridge.invoke('node.restart', {})
      close()
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <Modal title="Settings" onClose={close} testId="settings-dialog">
      <form className="form" onSubmit={save} noValidate>
        <fieldset>
          <legend>Engine</legend>
          {current.engineOverridden && <p className="muted">Set on the command line or in the environment for this run; change it there.</p>}
          <label className="form-check">
            <input type="radio" name="engine" data-testid="settings-engine-embedded" checked={mode === 'embedded'} disabled={current.engineOverridden} onChange={() => setMode('embedded')} />
            Built-in engine on this machine (works offline, no account)
          </label>
          <label className="form-check">
            <input type="radio" name="engine" data-testid="settings-engine-remote" checked={mode === 'remote'} disabled={current.engineOverridden} onChange={() => setMode('remote')} />
            A team engine
          </label>
          {mode === 'remote' && (
            <>
              <label className="form-row">
                <span className="form-label">URL</span>
                <input data-testid="settings-engine-url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://relay.example.com" spellCheck={false} />
              </label>
              <label className="form-row">
                <span className="form-label">Workspace key</span>
                <input
                  data-testid="settings-engine-key"
                  type="password"
                  value={key}
                  onChange={(e) => setKey(e.target.value)}
                  placeholder={current.engine.workspaceKeySet ? 'key set — type to replace' : 'rk_live_…'}
                  autoComplete="off"
                />
              </label>
              {current.engine.workspaceKeySet && (
                <span className="muted" data-testid="settings-key-set">
                  A workspace key is set. It is kept by the app and never shown.
                </span>
              )}
            </>
          )}
        </fieldset>
        <label className="form-row">
          <span className="form-label">Node name</span>
          <input data-testid="settings-node-name" value={nodeName} onChange={(e) => setNodeName(e.target.value)} placeholder="this machine's name" spellCheck={false} />
        </label>
        <fieldset>
          <legend>Notify me when</legend>
          {KINDS.map(([kind, label]) => (
            <label className="form-check" key={kind}>
              <input type="checkbox" data-testid={`settings-notify-${kind}`} checked={notifications[kind]} onChange={(e) => setNotifications({ ...notifications, [kind]: e.target.checked })} />
              {label}
            </label>
          ))}
          <label className="form-row">
            <span className="form-label">Waiting after</span>
            <span>
              <input
                type="number"
                min={3}
                max={3600}
                className="narrow"
                data-testid="settings-idle-seconds"
                value={notifications.idleSeconds}
                onChange={(e) => setNotifications({ ...notifications, idleSeconds: Math.round(Number(e.target.value) || 0) })}
              />{' '}
              seconds without output
            </span>
          </label>
          <p className="muted">Never about the agent you are looking at, and repeats within 30 s are merged.</p>
        </fieldset>
        <fieldset>
          <legend>Agent permissions</legend>
          <p className="muted">
            Agents Relay starts may always use Relay&apos;s own tools (send a message, read their inbox) without asking you. Every other
            tool — editing files, running commands — still asks in the agent&apos;s terminal, and Relay marks the agent as needing approval.
          </p>
          <label className="form-check">
            <input
              type="checkbox"
              data-testid="settings-skip-permissions"
              checked={skipPermissionPrompts}
              onChange={(e) => setSkipPermissionPrompts(e.target.checked)}
            />
            Skip all permission prompts (Claude --dangerously-skip-permissions, Codex --dangerously-bypass-approvals-and-sandbox, Gemini
            yolo): agents act without asking. Applies to agents started from now on.
          </label>
        </fieldset>
        <fieldset>
          <legend>App</legend>
          <label className="form-check">
            <input type="checkbox" data-testid="settings-close-to-tray" checked={closeToTray} onChange={(e) => setCloseToTray(e.target.checked)} />
            Closing the window keeps Relay and its agents running in the tray
          </label>
          <label className="form-check" title={canStartAtLogin ? undefined : 'Only in the desktop app'}>
            <input type="checkbox" data-testid="settings-start-at-login" checked={startAtLogin} disabled={!canStartAtLogin} onChange={(e) => setStartAtLogin(e.target.checked)} />
            Start Relay at login, in the tray{canStartAtLogin ? '' : ' (desktop app only)'}
          </label>
        </fieldset>
        {view.restartRequired && (
          <div className="notice" data-testid="settings-restart-required">
            The engine or node name changed: restart the node to apply it. Running agents stop; those marked to restart come back.
            <button type="button" onClick={restartNode} disabled={busy} data-testid="settings-restart-node">
              Restart node now
            </button>
          </div>
        )}
        {error && (
          <p className="inline-error" role="alert" data-testid="settings-error">
            {error}
          </p>
        )}
        <footer className="form-actions">
          <button type="button" onClick={close}>
            Close
          </button>
          <button type="submit" className="primary" data-testid="settings-save" disabled={busy}>
            Save
          </button>
        </footer>
      </form>
    </Modal>
  )
}
