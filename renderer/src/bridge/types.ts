import type { CommandName, CommandRequest, CommandResult, EventName } from '../../../shared/ipc'

export type BridgeEventListener = (event: EventName, payload: unknown) => void

/**
 * The renderer's only way to reach the host. Payloads handed to `onEvent` listeners are
 * still unvalidated: the stores' event router parses them against the contract, so that
 * every transport (and every fake in tests) goes through the same check.
 */
export interface Bridge {
  /** Rejects with a BridgeError (`.code`, `.message`) when the host answers `{ok:false}`. */
  invoke<C extends CommandName>(command: C, request: CommandRequest<C>): Promise<CommandResult<C>>
  onEvent(listener: BridgeEventListener): () => void
  readonly connected: boolean
  /**
   * Only transports that can drop implement this (the headless WebSocket). The UI shows
   * "disconnected from host" while false and re-fetches everything when it turns true.
   */
  onConnectionChange?(listener: (connected: boolean) => void): () => void
}
