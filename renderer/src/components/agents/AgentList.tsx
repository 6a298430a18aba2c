import { useMemo } from 'react'
import { sortAgents, useAgentsStore, useUiStore } from '../../stores'
import { AgentRow } from './AgentRow'

export function AgentList() {
  const byName = useAgentsStore((s) => s.byName)
  const agents = useMemo(() => sortAgents(byName), [byName])
  const live = agents.filter((a) => a.status === 'running' || a.status === 'starting').length
  return (
    <section className="agents">
      <h2 className="pane-title">
        Agents <span className="count">{live === agents.length ? agents.length : `${live}/${agents.length}`}</span>
        <span className="spacer" />
        <button type="button" className="primary small" data-testid="spawn-open" onClick={() => useUiStore.getState().openDialog('spawn')}>
          + Spawn agent
        </button>
      </h2>
      {agents.length === 0 ? (
        <div className="empty">
          <p>No agents yet.</p>
          <p>Spawn one — Claude Code, Codex, Gemini, or any command — and its terminal opens here.</p>
        </div>
      ) : (
        <ul className="agent-list">
          {agents.map((agent) => (
            <AgentRow key={agent.name} agent={agent} />
          ))}
        </ul>
      )}
    </section>
  )
}
