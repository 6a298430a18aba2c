import { memo, useState } from 'react'
import type { AgentInfo, CommandName } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { flushEvents, useAgentsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { describeStatus, dotClass, isAlive } from './describe-status'

/** Memoised: a row re-renders only when its agent changed (the store keeps others by reference). */
export const AgentRow = memo(function AgentRow({ agent }: { agent: AgentInfo }) {
  const { bridge } = useServices()
  const selected = useUiStore((s) => s.selected === agent.name)
  const select = useUiStore((s) => s.select)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)

  async function run(command: Extract<CommandName, 'agents.stop' | 'agents.start' | 'agents.remove'>) {
    setBusy(true)
    setError(null)
    try {
      const result = await bridge.invoke(command, { name: agent.name })
      if (command === 'agents.start' && 'name' in result) {
        flushEvents()
        useAgentsStore.getState().upsert(result)
        select(agent.name)
      }
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  const alive = isAlive(agent)
  const command = [agent.command, ...agent.args].join(' ')
  return (
    <li
      className={`agent-row status-${agent.status}${selected ? ' selected' : ''}${agent.attention ? ' attention' : ''}`}
      data-testid={`agent-row-${agent.name}`}
      data-status={agent.status}
      data-activity={agent.activity}
    >
      <button
        type="button"
        className="agent-open"
        data-testid={`agent-open-${agent.name}`}
        onClick={() => select(agent.name)}
        title={`${command}\n${agent.cwd}`}
      >
        <span className={`dot ${dotClass(agent)}`} aria-hidden />
        <span className="agent-name">{agent.name}</span>
      </button>
      <span className="agent-status">{describeStatus(agent)}</span>
      {agent.pendingInjections > 0 && (
        <span className="badge badge-pending" title="deliveries waiting to be typed into this agent">
          {agent.pendingInjections} pending
        </span>
      )}
      {alive ? (
        <button
          type="button"
          className="danger small"
          data-testid={`agent-stop-${agent.name}`}
          // An agent in its own worktree asks what becomes of the worktree first.
          onClick={() => (agent.worktree ? useUiStore.getState().openDialog('stop', agent.name) : run('agents.stop'))}
          disabled={busy}
        >
          Stop
        </button>
      ) : (
        <span className="row-actions">
          <button type="button" className="small" data-testid={`agent-start-${agent.name}`} onClick={() => run('agents.start')} disabled={busy} title="start it again with the same command, folder and channels">
            Start
          </button>
          <button type="button" className="small" data-testid={`agent-remove-${agent.name}`} onClick={() => run('agents.remove')} disabled={busy} title="forget this agent">
            ✕
          </button>
        </span>
      )}
      <span className="agent-command mono">
        {command}
        {agent.channels?.length ? <span className="muted"> · {agent.channels.map((c) => `#${c}`).join(' ')}</span> : null}
        {agent.worktree ? (
          <span className="muted" data-testid={`agent-branch-${agent.name}`} title={`own worktree: ${agent.worktree.path}`}>
            {' '}
            · ⎇ {agent.worktree.branch}
          </span>
        ) : null}
      </span>
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
    </li>
  )
})
