import { create } from 'zustand'
import type { AgentInfo } from '../../../shared/ipc'

interface AgentsStore {
  byName: Record<string, AgentInfo>
  replaceAll(agents: AgentInfo[]): void
  upsert(agent: AgentInfo): void
  /** Several at once: one copy of the map and one render for a frame's worth of changes. */
  upsertMany(agents: AgentInfo[]): void
  remove(name: string): void
}

export const useAgentsStore = create<AgentsStore>()((set) => ({
  byName: {},
  replaceAll: (agents) => set({ byName: Object.fromEntries(agents.map((a) => [a.name, a])) }),
  upsert: (agent) => set((s) => ({ byName: { ...s.byName, [agent.name]: agent } })),
  upsertMany: (agents) =>
    set((s) => {
      if (!agents.length) return s
      const byName = { ...s.byName }
      for (const a of agents) byName[a.name] = a
      return { byName }
    }),
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
