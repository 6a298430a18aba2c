import { useState, type FormEvent } from 'react'
import { parseRequest, type CommandRequest } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { useAgentsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { parseArgs } from './parse-args'

export function SpawnForm() {
  const { bridge } = useServices()
  const [name, setName] = useState('')
  const [command, setCommand] = useState('')
  const [args, setArgs] = useState('')
  const [cwd, setCwd] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (busy) return
    const request: CommandRequest<'agents.spawn'> = { name: name.trim(), command: command.trim(), args: parseArgs(args) }
    if (cwd.trim()) request.cwd = cwd.trim()
    // The contract's own check, so the message matches what the host would answer.
    const checked = parseRequest('agents.spawn', request)
    if (!checked.ok) {
      setError(checked.error.message)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const agent = await bridge.invoke('agents.spawn', request)
      useAgentsStore.getState().upsert(agent)
      useUiStore.getState().select(agent.name)
      // Command and cwd are kept: spawning a few agents of one kind is common.
      setName('')
      setArgs('')
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="spawn-form" onSubmit={submit} noValidate>
      <h2 className="pane-title">Spawn agent</h2>
      <label>
        <span>name</span>
        <input data-testid="spawn-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="reviewer" autoComplete="off" spellCheck={false} />
      </label>
      <label>
        <span>command</span>
        <input data-testid="spawn-command" value={command} onChange={(e) => setCommand(e.target.value)} placeholder="claude" autoComplete="off" spellCheck={false} />
      </label>
      <label>
        <span>args</span>
        <input data-testid="spawn-args" value={args} onChange={(e) => setArgs(e.target.value)} placeholder="optional, space-separated" autoComplete="off" spellCheck={false} />
      </label>
      <label>
        <span>cwd</span>
        <input data-testid="spawn-cwd" value={cwd} onChange={(e) => setCwd(e.target.value)} placeholder="optional, defaults to the host's" autoComplete="off" spellCheck={false} />
      </label>
      {error && (
        <p className="inline-error" role="alert" data-testid="spawn-error">
          {error}
        </p>
      )}
      <button type="submit" data-testid="spawn-submit" disabled={busy}>
        {busy ? 'Spawning…' : 'Spawn'}
      </button>
    </form>
  )
}
