/**
 * Spawn an agent: pick a detected CLI (or type any command), a name, a folder, args and
 * channels. Errors land on the field they are about, in the host's own words: name taken,
 * command not found, folder missing.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { parseRequest, type CommandRequest } from '../../../../shared/ipc'
import { BridgeError, errorMessage } from '../../bridge'
import { useAgentsStore, useSettingsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { Modal } from '../dialogs/Modal'
import { parseArgs } from './parse-args'

type Field = 'name' | 'command' | 'cwd' | 'args' | 'channels'

/** Which field an error is about, from the host's error code or the contract's field path. */
export function fieldOf(code: string, message: string): Field | null {
  if (code === 'name_taken') return 'name'
  if (code === 'command_not_found' || code === 'spawn_failed') return 'command'
  if (code === 'cwd_missing') return 'cwd'
  const m = /^(name|command|cwd|args|channels)(\.\d+)?:/.exec(message)
  return m ? (m[1] as Field) : null
}

export function splitChannels(input: string): string[] {
  return input
    .split(/[\s,]+/)
    .map((c) => c.replace(/^#/, '').trim())
    .filter(Boolean)
}

/** A free name for a new agent of this command: `claude`, then `claude-2`, … */
export function suggestName(command: string, taken: (name: string) => boolean): string {
  const base = (command.split(/[\\/]/).pop() ?? '').replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'agent'
  if (!taken(base)) return base
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`
}

export function SpawnDialog() {
  const { bridge } = useServices()
  const close = () => useUiStore.getState().openDialog(null)
  const app = useSettingsStore((s) => s.app)
  const byName = useAgentsStore((s) => s.byName)
  const [clis, setClis] = useState<Array<{ name: string; path: string }> | null>(null)
  const [command, setCommand] = useState('')
  const [name, setName] = useState('')
  const [nameTouched, setNameTouched] = useState(false)
  const [cwd, setCwd] = useState('')
  const [args, setArgs] = useState('')
  const [channels, setChannels] = useState('')
  const [restart, setRestart] = useState(true)
  const [error, setError] = useState<{ field: Field | null; message: string } | null>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    let live = true
    bridge.invoke('agents.detect', {}).then(
      (r) => live && setClis(r.clis),
      () => live && setClis([]),
    )
    return () => {
      live = false
    }
  }, [bridge])

  const taken = useMemo(() => (n: string) => Boolean(byName[n] && byName[n].status !== 'exited' && byName[n].status !== 'failed') || Boolean(byName[n]?.dormant), [byName])

  function choose(cmd: string) {
    setCommand(cmd)
    if (!nameTouched) setName(cmd.trim() ? suggestName(cmd.trim(), taken) : '')
    if (error?.field === 'command') setError(null)
  }

  async function browse() {
    try {
      const { path } = await bridge.invoke('dialog.pickDirectory', { defaultPath: cwd || undefined })
      if (path) setCwd(path)
    } catch (e) {
      setError({ field: 'cwd', message: errorMessage(e) })
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (busy) return
    const request: CommandRequest<'agents.spawn'> = {
      name: name.trim(),
      command: command.trim(),
      args: parseArgs(args),
      channels: splitChannels(channels),
      restart,
    }
    if (cwd.trim()) request.cwd = cwd.trim()
    // The contract's own check, so the message matches what the host would answer.
    const checked = parseRequest('agents.spawn', request)
    if (!checked.ok) {
      setError({ field: fieldOf(checked.error.code, checked.error.message), message: checked.error.message })
      return
    }
    setBusy(true)
    setError(null)
    try {
      const agent = await bridge.invoke('agents.spawn', request)
      useAgentsStore.getState().upsert(agent)
      useUiStore.getState().select(agent.name)
      close()
    } catch (e) {
      const code = e instanceof BridgeError ? e.code : 'error'
      setError({ field: fieldOf(code, errorMessage(e)), message: errorMessage(e) })
    } finally {
      setBusy(false)
    }
  }

  const fieldError = (f: Field) =>
    error?.field === f ? (
      <span className="field-error" role="alert" data-testid={`spawn-error-${f}`}>
        {error.message}
      </span>
    ) : null
  const invalid = (f: Field) => (error?.field === f ? 'invalid' : undefined)

  return (
    <Modal title="Spawn an agent" onClose={close} testId="spawn-dialog">
      <form className="form" onSubmit={submit} noValidate>
        <div className="form-row">
          <span className="form-label">Program</span>
          <div className="cli-choices" data-testid="spawn-clis">
            {clis === null && <span className="muted">looking for agent CLIs…</span>}
            {clis?.map((c) => (
              <button
                type="button"
                key={c.name}
                className={`chip${command.trim() === c.name ? ' chosen' : ''}`}
                data-testid={`spawn-cli-${c.name}`}
                title={c.path}
                onClick={() => choose(c.name)}
              >
                {c.name}
              </button>
            ))}
            {clis?.length === 0 && <span className="muted">No agent CLI (claude, codex, gemini, aider, …) found on PATH. Type any command below.</span>}
          </div>
        </div>
        <label className="form-row">
          <span className="form-label">Command</span>
          <input data-testid="spawn-command" className={invalid('command')} value={command} onChange={(e) => choose(e.target.value)} placeholder="claude, codex, bash, or a path" autoComplete="off" spellCheck={false} />
          {fieldError('command')}
        </label>
        <label className="form-row">
          <span className="form-label">Name</span>
          <input
            data-testid="spawn-name"
            className={invalid('name')}
            value={name}
            onChange={(e) => {
              setName(e.target.value)
              setNameTouched(true)
              if (error?.field === 'name') setError(null)
            }}
            placeholder="reviewer"
            autoComplete="off"
            spellCheck={false}
          />
          {fieldError('name')}
        </label>
        <div className="form-row">
          <span className="form-label">Folder</span>
          <div className="input-with-button">
            <input data-testid="spawn-cwd" className={invalid('cwd')} value={cwd} onChange={(e) => setCwd(e.target.value)} placeholder={app?.homeDir ?? 'home folder'} autoComplete="off" spellCheck={false} />
            {app?.canPickDirectory && (
              <button type="button" onClick={browse} data-testid="spawn-browse">
                Browse…
              </button>
            )}
          </div>
          {fieldError('cwd')}
        </div>
        <label className="form-row">
          <span className="form-label">Arguments</span>
          <input data-testid="spawn-args" className={invalid('args')} value={args} onChange={(e) => setArgs(e.target.value)} placeholder='optional, e.g. --model opus "fix the tests"' autoComplete="off" spellCheck={false} />
          {fieldError('args')}
        </label>
        <label className="form-row">
          <span className="form-label">Channels</span>
          <input data-testid="spawn-channels" className={invalid('channels')} value={channels} onChange={(e) => setChannels(e.target.value)} placeholder="optional, e.g. general, reviews" autoComplete="off" spellCheck={false} />
          {fieldError('channels')}
        </label>
        <label className="form-check">
          <input type="checkbox" data-testid="spawn-restart" checked={restart} onChange={(e) => setRestart(e.target.checked)} />
          Start it again when Relay starts (resuming its session where the CLI can)
        </label>
        {error && error.field === null && (
          <p className="inline-error" role="alert" data-testid="spawn-error">
            {error.message}
          </p>
        )}
        <footer className="form-actions">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="primary" data-testid="spawn-submit" disabled={busy}>
            {busy ? 'Spawning…' : 'Spawn'}
          </button>
        </footer>
      </form>
    </Modal>
  )
}
