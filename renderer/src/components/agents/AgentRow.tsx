import { useState } from 'react'
import type { AgentInfo } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { describeStatus, isAlive } from './describe-status'

export function AgentRow({ agent }: { agent: AgentInfo }) {
  const { bridge } = useServices()
  const selected = useUiStore((s) => s.selected === agent.name)
  const select = useUiStore((s) => s.select)
  const [stopping, setStopping] = useState(false)
  const [error, setError] = useState<string | null>(null)

  async function stop() {
    setStopping(true)
    setError(null)
    try {
      await bridge.invoke('agents.stop', { name: agent.name })
    } catch (e) {
      setError(errorMessage(e))
    } finally {
      setStopping(false)
    }
  }

  const command = [agent.command, ...agent.args].join(' ')
  return (
    <li
      className={`agent-row status-${agent.status}${selected ? ' selected' : ''}`}
      data-testid={`agent-row-${agent.name}`}
      data-status={agent.status}
    >
      <button
        type="button"
        className="agent-open"
        data-testid={`agent-open-${agent.name}`}
        onClick={() => select(agent.name)}
        title={`${command}\n${agent.cwd}`}
      >
        <span className={`dot dot-${agent.status}`} aria-hidden />
        <span className="agent-name">{agent.name}</span>
      </button>
      <span className="agent-status">{describeStatus(agent)}</span>
      {agent.pendingInjections > 0 && (
        <span className="badge badge-pending" title="deliveries waiting to be typed into this agent">
          {agent.pendingInjections} pending
        </span>
      )}
      <button
        type="button"
        className="danger small"
        data-testid={`agent-stop-${agent.name}`}
        onClick={stop}
        disabled={stopping || !isAlive(agent)}
      >
        Stop
      </button>
      <span className="agent-command mono">{command}</span>
      {error && (
        <span className="inline-error" role="alert">
          {error}
        </span>
      )}
    </li>
  )
}
