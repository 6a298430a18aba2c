import { create } from 'zustand'
import type { AgentInfo } from '../../../shared/ipc'

interface AgentsStore {
  byName: Record<string, AgentInfo>
  replaceAll(agents: AgentInfo[]): void
  upsert(agent: AgentInfo): void
  remove(name: string): void
}

export const useAgentsStore = create<AgentsStore>()((set) => ({
  byName: {},
  replaceAll: (agents) => set({ byName: Object.fromEntries(agents.map((a) => [a.name, a])) }),
  upsert: (agent) => set((s) => ({ byName: { ...s.byName, [agent.name]: agent } })),
  remove: (name) =>
    set((s) => {
      if (!(name in s.byName)) return s
      const { [name]: _removed, ...rest } = s.byName
      return { byName: rest }
    }),
}))

/** Oldest first, so a newly spawned agent lands at the end and rows don't jump. */
export function sortAgents(byName: Record<string, AgentInfo>): AgentInfo[] {
  return Object.values(byName).sort((a, b) => a.startedAt - b.startedAt || a.name.localeCompare(b.name))
}
