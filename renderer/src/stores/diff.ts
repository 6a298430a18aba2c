/**
 * Agents' diffs (changes in their worktree against the base commit), fetched while a diff
 * view is on screen. `diff.changed` only bumps a version; the view on screen asks again.
 * Fetches are coalesced per agent: while one is in flight, any number of changes make one
 * more fetch after it, so a burst of writes by the agent costs at most two diffs.
 */
import { create } from 'zustand'
import type { AgentDiffInfo } from '../../../shared/ipc'
import { errorMessage, type Bridge } from '../bridge'

export interface DiffEntry {
  diff: AgentDiffInfo | null
  /** The last fetch failed (the previous diff, if any, stays shown). */
  error: string | null
  loading: boolean
}

interface DiffStore {
  byName: Record<string, DiffEntry>
  /** Bumped when the host says the agent's files changed (or the link came back). */
  versions: Record<string, number>
  changed(name: string): void
  /** Everything may be stale (the host link came back). */
  changedAll(): void
  setEntry(name: string, patch: Partial<DiffEntry>): void
  forget(name: string): void
}

const emptyEntry: DiffEntry = { diff: null, error: null, loading: false }

export const useDiffStore = create<DiffStore>()((set) => ({
  byName: {},
  versions: {},
  changed: (name) => set((s) => ({ versions: { ...s.versions, [name]: (s.versions[name] ?? 0) + 1 } })),
  changedAll: () =>
    set((s) => {
      const versions = { ...s.versions }
      for (const name of Object.keys(s.byName)) versions[name] = (versions[name] ?? 0) + 1
      return { versions }
    }),
  setEntry: (name, patch) => set((s) => ({ byName: { ...s.byName, [name]: { ...(s.byName[name] ?? emptyEntry), ...patch } } })),
  forget: (name) =>
    set((s) => {
      const { [name]: _diff, ...byName } = s.byName
      const { [name]: _version, ...versions } = s.versions
      return { byName, versions }
    }),
}))

interface Flight {
  again: boolean
  done: Promise<void>
}

/** Per bridge, so two windows (or two tests) never share an in-flight fetch. */
const flights = new WeakMap<Bridge, Map<string, Flight>>()

/** Fetch the agent's diff now, or once more after the fetch in flight. Never rejects. */
export function refreshDiff(bridge: Bridge, name: string): Promise<void> {
  let perBridge = flights.get(bridge)
  if (!perBridge) flights.set(bridge, (perBridge = new Map()))
  const inFlight = perBridge.get(name)
  if (inFlight) {
    inFlight.again = true
    return inFlight.done
  }
  const flight: Flight = { again: false, done: Promise.resolve() }
  const table = perBridge
  flight.done = (async () => {
    try {
      do {
        flight.again = false
        const store = useDiffStore.getState()
        store.setEntry(name, { loading: true })
        try {
          const diff = await bridge.invoke('diff.get', { name })
          useDiffStore.getState().setEntry(name, { diff, error: null, loading: false })
        } catch (e) {
          useDiffStore.getState().setEntry(name, { error: errorMessage(e), loading: false })
        }
      } while (flight.again)
    } finally {
      table.delete(name)
    }
  })()
  table.set(name, flight)
  return flight.done
}
