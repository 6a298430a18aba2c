/** What React needs from the terminal layer: put an agent's terminal into a host element. */
export interface TerminalHost {
  /** Creates the agent's xterm on first use; returns a detach that is safe to call late. */
  attach(name: string, element: HTMLElement): () => void
  /** The terminal is on screen (its tab selected) or not; only terminals on screen get output. */
  setVisible?(name: string, visible: boolean): void
  /** Find in the agent's scrollback; selects the match. Optional so simple fakes can skip it. */
  find?(name: string, query: string, backwards?: boolean): { index: number; total: number }
  clearFind?(name: string): void
  copySelection?(name: string): boolean
}
