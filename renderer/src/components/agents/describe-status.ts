import type { AgentInfo } from '../../../../shared/ipc'

export function describeStatus(agent: AgentInfo): string {
  switch (agent.status) {
    case 'starting':
      return 'starting'
    case 'running':
      return agent.pid !== undefined ? `running · pid ${agent.pid}` : 'running'
    case 'exited':
      return agent.exitCode === null || agent.exitCode === undefined ? 'exited' : `exited · code ${agent.exitCode}`
    case 'failed':
      return agent.error ? `failed: ${agent.error}` : 'failed'
  }
}

export function isAlive(agent: AgentInfo): boolean {
  return agent.status === 'running' || agent.status === 'starting'
}
