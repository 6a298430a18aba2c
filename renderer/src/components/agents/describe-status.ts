import type { AgentInfo } from '../../../../shared/ipc'

export function describeStatus(agent: AgentInfo): string {
  switch (agent.status) {
    case 'starting':
      return 'starting'
    case 'running':
      if (agent.activity === 'idle') return 'waiting for input'
      if (agent.activity === 'working') return 'working'
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
  if (agent.status === 'running' && agent.activity === 'idle') return 'dot-idle'
  return `dot-${agent.status}`
}

export function isAlive(agent: AgentInfo): boolean {
  return agent.status === 'running' || agent.status === 'starting'
}
