/** The Electron transport: a thin wrapper over the preload's `window.relay`. */
import { isCommandName } from '../../../shared/ipc'
import { BridgeError } from './errors'
import { isEventName } from './event-names'
import { unwrapOutcome } from './outcome'
import type { Bridge } from './types'

/** What the preload exposes (`contextBridge.exposeInMainWorld('relay', …)`): one function per command. */
export interface RelayPreload {
  commands: Record<string, (request: unknown) => Promise<unknown>>
  onEvent(listener: (event: string, payload: unknown) => void): () => void
}

declare global {
  interface Window {
    relay?: RelayPreload
  }
}

export function createElectronBridge(relay: RelayPreload): Bridge {
  return {
    // In-process IPC cannot drop while the window lives.
    connected: true,
    async invoke(command, request) {
      const fn = isCommandName(command) && Object.prototype.hasOwnProperty.call(relay.commands, command) ? relay.commands[command] : undefined
      if (!fn) throw new BridgeError('unknown_command', `this app has no command ${String(command)}`)
      const outcome = await fn(request)
      return unwrapOutcome(command, outcome)
    },
    onEvent(listener) {
      return relay.onEvent((event, payload) => {
        if (!isEventName(event)) {
          console.warn(`[bridge] dropped unknown event ${String(event)}`)
          return
        }
        listener(event, payload)
      })
    },
  }
}
