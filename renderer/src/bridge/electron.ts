/** The Electron transport: a thin wrapper over the preload's `window.relay`. */
import { isEventName } from './event-names'
import { unwrapOutcome } from './outcome'
import type { Bridge } from './types'

/** What the preload exposes (`contextBridge.exposeInMainWorld('relay', …)`). */
export interface RelayPreload {
  invoke(command: string, request: unknown): Promise<unknown>
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
      const outcome = await relay.invoke(command, request)
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
