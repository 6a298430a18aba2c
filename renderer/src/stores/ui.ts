import { create } from 'zustand'
import type { MessageState } from '../../../shared/ipc'

interface UiStore {
  /** The agent whose terminal is shown. */
  selected: string | null
  /** Agents whose terminal has been opened once; their xterm stays alive while hidden. */
  opened: Record<string, true>
  feedAgent: string
  /** `#name`, or '' for every channel and DM. */
  feedChannel: string
  feedState: MessageState | ''
  /** Which dialog is open, if any. */
  dialog: 'spawn' | 'settings' | null
  select(name: string): void
  forget(name: string): void
  setFeedAgent(name: string): void
  setFeedChannel(channel: string): void
  setFeedState(state: MessageState | ''): void
  openDialog(dialog: 'spawn' | 'settings' | null): void
}

export const useUiStore = create<UiStore>()((set) => ({
  selected: null,
  opened: {},
  feedAgent: '',
  feedChannel: '',
  feedState: '',
  dialog: null,
  select: (name) => set((s) => ({ selected: name, opened: s.opened[name] ? s.opened : { ...s.opened, [name]: true } })),
  forget: (name) =>
    set((s) => {
      const { [name]: _gone, ...opened } = s.opened
      return { opened, selected: s.selected === name ? null : s.selected }
    }),
  setFeedAgent: (feedAgent) => set({ feedAgent }),
  setFeedChannel: (feedChannel) => set({ feedChannel }),
  setFeedState: (feedState) => set({ feedState }),
  openDialog: (dialog) => set({ dialog }),
}))
