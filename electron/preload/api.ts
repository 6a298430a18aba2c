/**
 * The shape the preload exposes as `window.relay`. Type-only and free of Node and DOM
 * types, so the renderer can import it too.
 *
 * One function per operation (desktop-apps.md §4 #2): `relay.commands['agents.spawn'](req)`.
 * Each function is bound to its own IPC channel, so the page can never name a channel.
 */
import type { CommandName, CommandOutcome } from '../../shared/ipc/contract'

export type RelayCommands = { readonly [C in CommandName]: (request: unknown) => Promise<CommandOutcome<C>> }

export interface RelayApi {
  /** Resolves with an outcome; never rejects (transport failures are outcomes too). */
  readonly commands: RelayCommands
  /** Subscribes to host events; returns the unsubscribe function. */
  onEvent(listener: (event: string, payload: unknown) => void): () => void
}

export const RELAY_GLOBAL = 'relay'
export const EVENT_CHANNEL = 'relay:event'
/** Several events at once, in order: `[{ event, payload }, …]` (the host batches per turn of its loop). */
export const EVENTS_CHANNEL = 'relay:events'
/** The IPC channel of one command. */
export const commandChannel = (command: CommandName): string => `relay:cmd:${command}`
