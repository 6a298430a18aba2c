import type { AgentInfo } from '../../../../shared/ipc'

export function describeStatus(agent: AgentInfo): string {
  switch (agent.status) {
    case 'starting':
      return 'starting'
    case 'running':
      switch (agent.activity) {
        case 'idle':
          return 'waiting for input'
        case 'working':
          return 'working'
        case 'starting':
          return 'starting'
        case 'needs_approval':
          return agent.activityDetail ? `needs approval: ${agent.activityDetail}` : 'needs approval'
        case 'dialog':
          return agent.activityDetail ? `dialog: ${agent.activityDetail}` : 'shows a dialog'
      }
      return agent.pid !== undefined ? `running · pid ${agent.pid}` : 'running'
    case 'exited':
      if (agent.dormant) return agent.restart ? 'not started yet' : 'stopped'
      return agent.exitCode === null || agent.exitCode === undefined ? 'exited' : `exited · code ${agent.exitCode}`
    case 'failed':
      return agent.error ? `failed: ${agent.error}` : 'failed'
  }
}

/** The dot's look: live states by activity, then attention, then the plain status. */
export function dotClass(agent: AgentInfo): string {
  if (agent.attention) return 'dot-attention'
  if (agent.status === 'running' && (agent.activity === 'needs_approval' || agent.activity === 'dialog')) return 'dot-attention'
  if (agent.status === 'running' && agent.activity === 'idle') return 'dot-idle'
  if (agent.status === 'running' && agent.activity === 'starting') return 'dot-starting'
  return `dot-${agent.status}`
}

export function isAlive(agent: AgentInfo): boolean {
  return agent.status === 'running' || agent.status === 'starting'
}
