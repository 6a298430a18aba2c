import { useMemo } from 'react'
import { sortAgents, useAgentsStore, useUiStore } from '../../stores'
import { describeStatus } from '../agents/describe-status'
import { TerminalView } from './TerminalView'

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
          <button
            key={agent.name}
            type="button"
            role="tab"
            aria-selected={agent.name === selected}
            className={`tab status-${agent.status}${agent.name === selected ? ' active' : ''}`}
            data-testid={`terminal-tab-${agent.name}`}
            onClick={() => select(agent.name)}
          >
            <span className={`dot dot-${agent.status}`} aria-hidden />
            {agent.name}
          </button>
        ))}
      </div>
      {current && (
        <div className="terminal-caption">
          <span className="mono">{[current.command, ...current.args].join(' ')}</span>
          <span className="muted">{current.cwd}</span>
          <span className={`agent-status status-${current.status}`}>{describeStatus(current)}</span>
        </div>
      )}
      <div className="terminal-stack">
        {/* Only agents opened at least once get an xterm; the rest cost nothing. */}
        {Object.keys(opened)
          .filter((name) => byName[name])
          .map((name) => (
            <TerminalView key={name} name={name} visible={name === selected} />
          ))}
        {!selected && <p className="empty">{agents.length ? 'Open an agent to see its terminal.' : 'No agents running.'}</p>}
      </div>
    </div>
  )
}
