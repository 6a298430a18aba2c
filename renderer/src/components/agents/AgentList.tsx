import { useMemo } from 'react'
import { sortAgents, useAgentsStore } from '../../stores'
import { AgentRow } from './AgentRow'

export function AgentList() {
  const byName = useAgentsStore((s) => s.byName)
  const agents = useMemo(() => sortAgents(byName), [byName])
  return (
    <section className="agents">
      <h2 className="pane-title">
        Agents <span className="count">{agents.length}</span>
      </h2>
      {agents.length === 0 ? (
        <p className="empty">No agents yet. Spawn one below.</p>
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
