import { create } from 'zustand'
import type { MessageState } from '../../../shared/ipc'

interface UiStore {
  /** The agent whose terminal is shown. */
  selected: string | null
  /** Agents whose terminal has been opened once; their xterm stays alive while hidden. */
  opened: Record<string, true>
  feedAgent: string
  feedState: MessageState | ''
  select(name: string): void
  forget(name: string): void
  setFeedAgent(name: string): void
  setFeedState(state: MessageState | ''): void
}

export const useUiStore = create<UiStore>()((set) => ({
  selected: null,
  opened: {},
  feedAgent: '',
  feedState: '',
  select: (name) => set((s) => ({ selected: name, opened: s.opened[name] ? s.opened : { ...s.opened, [name]: true } })),
  forget: (name) =>
    set((s) => {
      const { [name]: _gone, ...opened } = s.opened
      return { opened, selected: s.selected === name ? null : s.selected }
    }),
  setFeedAgent: (feedAgent) => set({ feedAgent }),
  setFeedState: (feedState) => set({ feedState }),
}))
