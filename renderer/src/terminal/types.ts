/** What React needs from the terminal layer: put an agent's terminal into a host element. */
export interface TerminalHost {
  /** Creates the agent's xterm on first use; returns a detach that is safe to call late. */
  attach(name: string, element: HTMLElement): () => void
}
