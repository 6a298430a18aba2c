/**
 * Preload: the renderer's only door to the host. It exposes one function per contract
 * command (each bound to its own channel) and an event subscription, never ipcRenderer
 * itself, and never hands an Electron event object to the page (it would carry `sender`,
 * i.e. ipcRenderer). Runs sandboxed: only 'electron' can be required at runtime, so the
 * build bundles everything else (see electron.vite.config.ts).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { commandNames, type CommandName, type CommandOutcome } from '../../shared/ipc/contract'
import { EVENT_CHANNEL, EVENTS_CHANNEL, RELAY_GLOBAL, commandChannel, type RelayApi, type RelayCommands } from './api'

function command(name: CommandName): (request: unknown) => Promise<CommandOutcome<CommandName>> {
  const channel = commandChannel(name)
  return async (request) => {
    try {
      return (await ipcRenderer.invoke(channel, request)) as CommandOutcome<CommandName>
    } catch (error) {
      // e.g. a request that can't be structured-cloned (a function, a DOM node).
      const message = error instanceof Error ? error.message : String(error)
      return { ok: false, error: { code: 'ipc_failed', message: `${name} could not be sent: ${message}` } }
    }
  }
}

const commands = Object.freeze(Object.fromEntries(commandNames.map((name) => [name, command(name)]))) as unknown as RelayCommands

const relay: RelayApi = {
  commands,
  onEvent(listener: (event: string, payload: unknown) => void): () => void {
    const handler = (_event: IpcRendererEvent, name: string, payload: unknown): void => listener(name, payload)
    const batch = (_event: IpcRendererEvent, events: unknown): void => {
      if (!Array.isArray(events)) return
      for (const e of events as Array<{ event?: unknown; payload?: unknown }>) {
        if (e && typeof e.event === 'string') listener(e.event, e.payload)
      }
    }
    ipcRenderer.on(EVENT_CHANNEL, handler)
    ipcRenderer.on(EVENTS_CHANNEL, batch)
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, handler)
      ipcRenderer.removeListener(EVENTS_CHANNEL, batch)
    }
  },
}

contextBridge.exposeInMainWorld(RELAY_GLOBAL, relay)
