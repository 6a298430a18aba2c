import { memo, useMemo } from 'react'
import type { AgentInfo } from '../../../../shared/ipc'
import { sortAgents, useAgentsStore, useUiStore, type AgentView } from '../../stores'
import { describeStatus, dotClass } from '../agents/describe-status'
import { DiffView } from '../diff/DiffView'
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
  const view = useUiStore((s) => (selected ? (s.agentView[selected] ?? 'terminal') : 'terminal'))
  // Only an agent in its own worktree has changes to show.
  const showChanges = Boolean(current?.worktree) && view === 'changes'

  return (
    <div className="terminal-panel">
      <div className="tabs" role="tablist">
        {agents.map((agent) => (
          <Tab key={agent.name} agent={agent} active={agent.name === selected} select={select} />
        ))}
      </div>
      {current && (
        <div className="terminal-caption">
          <span className="mono caption-clip" title={[current.command, ...current.args].join(' ')}>
            {[current.command, ...current.args].join(' ')}
          </span>
          <span className="muted caption-clip" title={current.cwd}>
            {current.cwd}
          </span>
          <span className={`agent-status status-${current.status}`}>{describeStatus(current)}</span>
          {current.worktree && (
            <span className="mono muted" title={`own worktree: ${current.worktree.path}`}>
              ⎇ {current.worktree.branch}
            </span>
          )}
          <span className="spacer" />
          {current.worktree && <ViewSwitch name={current.name} view={showChanges ? 'changes' : 'terminal'} />}
          {!showChanges && <TerminalSearch name={current.name} />}
        </div>
      )}
      <div className="terminal-stack">
        {/* Only agents opened at least once get an xterm; the rest cost nothing. */}
        {Object.keys(opened)
          .filter((name) => byName[name])
          .map((name) => (
            <TerminalView key={name} name={name} visible={name === selected && !showChanges} />
          ))}
        {!selected && (
          <p className="empty">{agents.length ? 'Open an agent to see its terminal.' : 'No agents yet: spawn one and its terminal opens here.'}</p>
        )}
        {showChanges && current && <DiffView key={current.name} name={current.name} />}
        {current?.dormant && !showChanges && (
          <p className="empty terminal-dormant">
            {current.name} is not running in this session. Start it from the agent list to continue.
          </p>
        )}
      </div>
    </div>
  )
}

/** Terminal or Changes for the agent on screen (Changes only for one in its own worktree). */
function ViewSwitch({ name, view }: { name: string; view: AgentView }) {
  const setView = (v: AgentView) => useUiStore.getState().setAgentView(name, v)
  return (
    <span className="view-switch" role="tablist" aria-label={`what to show for ${name}`}>
      <button type="button" role="tab" aria-selected={view === 'terminal'} className={view === 'terminal' ? 'active' : undefined} data-testid="agent-tab-terminal" onClick={() => setView('terminal')}>
        Terminal
      </button>
      <button type="button" role="tab" aria-selected={view === 'changes'} className={view === 'changes' ? 'active' : undefined} data-testid="agent-tab-changes" onClick={() => setView('changes')}>
        Changes
      </button>
    </span>
  )
}
