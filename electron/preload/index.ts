/**
 * Preload: the renderer's only door to the host. It exposes two functions, never
 * ipcRenderer itself, and never hands an Electron event object to the page (it would
 * carry `sender`, i.e. ipcRenderer). Runs sandboxed: only 'electron' can be required at
 * runtime, so the build bundles everything else (see electron.vite.config.ts).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { isCommandName, type CommandName, type CommandOutcome } from '../../shared/ipc/contract'
import { EVENT_CHANNEL, INVOKE_CHANNEL, RELAY_GLOBAL, type RelayApi } from './api'

type Outcome = CommandOutcome<CommandName>

const relay = {
  async invoke(command: string, request: unknown): Promise<Outcome> {
    // Main checks again; refusing here just saves a round trip and gives a clear message.
    if (!isCommandName(command)) {
      return { ok: false, error: { code: 'unknown_command', message: `Unknown command: ${String(command)}` } }
    }
    try {
      return (await ipcRenderer.invoke(INVOKE_CHANNEL, command, request)) as Outcome
    } catch (error) {
      // e.g. a request that can't be structured-cloned (a function, a DOM node).
      const message = error instanceof Error ? error.message : String(error)
      return { ok: false, error: { code: 'ipc_failed', message: `${command} could not be sent: ${message}` } }
    }
  },
  onEvent(listener: (event: string, payload: unknown) => void): () => void {
    const handler = (_event: IpcRendererEvent, name: string, payload: unknown): void => listener(name, payload)
    ipcRenderer.on(EVENT_CHANNEL, handler)
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, handler)
    }
  },
} satisfies RelayApi

contextBridge.exposeInMainWorld(RELAY_GLOBAL, relay)
