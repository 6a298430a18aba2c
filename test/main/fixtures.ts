/** Shared builders for the main-process tests. */
import type { AgentInfo, NodeStatus } from '../../shared/ipc/contract'

export function status(overrides: Partial<NodeStatus> = {}): NodeStatus {
  return {
    state: 'connected',
    nodeName: 'laptop',
    nodeId: 'node_1',
    engineUrl: 'http://127.0.0.1:4100',
    embeddedEngine: true,
    agentsOnline: 0,
    ...overrides,
  }
}

export function agent(name: string, overrides: Partial<AgentInfo> = {}): AgentInfo {
  return {
    name,
    command: 'claude',
    args: [],
    cwd: '/tmp',
    status: 'running',
    startedAt: 1,
    pendingInjections: 0,
    ...overrides,
  }
}
