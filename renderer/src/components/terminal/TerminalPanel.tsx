import { memo, useMemo } from 'react'
import type { AgentInfo } from '../../../../shared/ipc'
import { sortAgents, useAgentsStore, useUiStore } from '../../stores'
import { describeStatus, dotClass } from '../agents/describe-status'
import { TerminalSearch } from './TerminalSearch'
import { TerminalView } from './TerminalView'

/** Memoised: with hundreds of agents, one agent's change re-renders its tab only. */
const Tab = memo(function Tab({ agent, active, select }: { agent: AgentInfo; active: boolean; select: (name: string) => void }) {
  return (
    <button
      type="button"
      role="tab"
      aria-selected={active}
      className={`tab status-${agent.status}${active ? ' active' : ''}`}
      data-testid={`terminal-tab-${agent.name}`}
      onClick={() => select(agent.name)}
    >
      <span className={`dot ${dotClass(agent)}`} aria-hidden />
      {agent.name}
    </button>
  )
})

export function TerminalPanel() {
  const byName = useAgentsStore((s) => s.byName)
  const agents = useMemo(() => sortAgents(byName), [byName])
  const selected = useUiStore((s) => s.selected)
  const opened = useUiStore((s) => s.opened)
  const select = useUiStore((s) => s.select)
  const current = selected ? byName[selected] : undefined

  return (
    <div className="terminal-panel">
      <div className="tabs" role="tablist">
        {agents.map((agent) => (
          <Tab key={agent.name} agent={agent} active={agent.name === selected} select={select} />
        ))}
      </div>
      {current && (
        <div className="terminal-caption">
          <span className="mono">{[current.command, ...current.args].join(' ')}</span>
          <span className="muted">{current.cwd}</span>
          <span className={`agent-status status-${current.status}`}>{describeStatus(current)}</span>
          <span className="spacer" />
          <TerminalSearch name={current.name} />
        </div>
      )}
      <div className="terminal-stack">
        {/* Only agents opened at least once get an xterm; the rest cost nothing. */}
        {Object.keys(opened)
          .filter((name) => byName[name])
          .map((name) => (
            <TerminalView key={name} name={name} visible={name === selected} />
          ))}
        {!selected && (
          <p className="empty">{agents.length ? 'Open an agent to see its terminal.' : 'No agents yet: spawn one and its terminal opens here.'}</p>
        )}
        {current?.dormant && (
          <p className="empty terminal-dormant">
            {current.name} is not running in this session. Start it from the agent list to continue.
          </p>
        )}
      </div>
    </div>
  )
}
