/**
 * The shape the preload exposes as `window.relay`. Type-only and free of Node and DOM
 * types, so the renderer can import it too.
 */
import type { CommandName, CommandOutcome } from '../../shared/ipc/contract'

export interface RelayApi {
  /** Resolves with an outcome; never rejects (transport failures are outcomes too). */
  invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>>
  /** Subscribes to host events; returns the unsubscribe function. */
  onEvent(listener: (event: string, payload: unknown) => void): () => void
}

export const RELAY_GLOBAL = 'relay'
export const INVOKE_CHANNEL = 'relay:invoke'
export const EVENT_CHANNEL = 'relay:event'
