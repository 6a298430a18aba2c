import { create } from 'zustand'
import type { MessageState } from '../../../shared/ipc'

export type DialogKind = 'spawn' | 'settings' | 'stop'
/** What the main pane shows for an agent: its terminal, or the changes in its worktree. */
export type AgentView = 'terminal' | 'changes'

interface UiStore {
  /** The agent whose terminal is shown. */
  selected: string | null
  /** Agents whose terminal has been opened once; their xterm stays alive while hidden. */
  opened: Record<string, true>
  /** Agents showing their changes instead of their terminal (absent: the terminal). */
  agentView: Record<string, AgentView>
  feedAgent: string
  /** `#name`, or '' for every channel and DM. */
  feedChannel: string
  feedState: MessageState | ''
  /** Which dialog is open, if any. */
  dialog: DialogKind | null
  /** The agent a dialog is about (the stop dialog). */
  dialogAgent: string | null
  select(name: string): void
  forget(name: string): void
  setAgentView(name: string, view: AgentView): void
  setFeedAgent(name: string): void
  setFeedChannel(channel: string): void
  setFeedState(state: MessageState | ''): void
  openDialog(dialog: DialogKind | null, agent?: string | null): void
}

export const useUiStore = create<UiStore>()((set) => ({
  selected: null,
  opened: {},
  agentView: {},
  feedAgent: '',
  feedChannel: '',
  feedState: '',
  dialog: null,
  dialogAgent: null,
  select: (name) => set((s) => ({ selected: name, opened: s.opened[name] ? s.opened : { ...s.opened, [name]: true } })),
  forget: (name) =>
    set((s) => {
      const { [name]: _gone, ...opened } = s.opened
      const { [name]: _view, ...agentView } = s.agentView
      return { opened, agentView, selected: s.selected === name ? null : s.selected }
    }),
  setAgentView: (name, view) =>
    set((s) => {
      if ((s.agentView[name] ?? 'terminal') === view) return s
      const { [name]: _old, ...rest } = s.agentView
      return { agentView: view === 'terminal' ? rest : { ...rest, [name]: view } }
    }),
  setFeedAgent: (feedAgent) => set({ feedAgent }),
  setFeedChannel: (feedChannel) => set({ feedChannel }),
  setFeedState: (feedState) => set({ feedState }),
  openDialog: (dialog, agent = null) => set({ dialog, dialogAgent: dialog ? agent : null }),
}))
