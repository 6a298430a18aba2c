/**
 * Keeps the stores in step with the host: applies validated events, fetches the full state
 * when the link comes up (first connect and every reconnect), and routes terminal bytes to
 * the terminal sink, which lives outside zustand.
 */
import type { Bridge } from '../bridge'
import { useAgentsStore } from './agents'
import { parseEvent, type AppEvent } from './events'
import { useFeedStore } from './feed'
import { useNodeStore } from './node'
import { useSettingsStore } from './settings'
import { useToastStore } from './toasts'
import { useUiStore } from './ui'

export interface SyncOptions {
  /** Show host notifications as in-page toasts (headless mode; Electron shows them natively). */
  toasts: boolean
}

/** What the stores need from the terminal layer; the xterm registry implements it. */
export interface TerminalSink {
  output(name: string, data: string): void
  removed(name: string): void
  /** The link came back: re-fetch scrollback for every open terminal. */
  resync(): void
}

export function applyEvent(e: AppEvent, terminals: TerminalSink, options: SyncOptions = { toasts: true }): void {
  switch (e.event) {
    case 'node.status':
      useNodeStore.getState().setStatus(e.payload)
      return
    case 'agent.changed':
      useAgentsStore.getState().upsert(e.payload)
      return
    case 'agent.removed':
      useAgentsStore.getState().remove(e.payload.name)
      useUiStore.getState().forget(e.payload.name)
      terminals.removed(e.payload.name)
      return
    case 'terminal.output':
      terminals.output(e.payload.name, e.payload.data)
      return
    case 'message.changed':
      useFeedStore.getState().upsert([e.payload])
      return
    case 'settings.changed':
      useSettingsStore.getState().setSettings(e.payload)
      return
    case 'notification':
      if (options.toasts) useToastStore.getState().push(e.payload)
      return
    case 'ui.focusAgent':
      useUiStore.getState().select(e.payload.name)
      useUiStore.getState().openDialog(null)
      return
    case 'ui.openSpawn':
      useUiStore.getState().openDialog('spawn')
      return
    case 'ui.openSettings':
      useUiStore.getState().openDialog('settings')
      return
  }
}

/**
 * Each result is applied as soon as it arrives rather than after all of them: the transport
 * is ordered, so a list reflects the host at the moment it answered and any later event
 * must win over it.
 */
export function fetchState(bridge: Bridge): Promise<void> {
  const warn = (what: string) => (error: unknown) => console.warn(`[sync] could not fetch ${what}`, error)
  return Promise.all([
    bridge.invoke('node.status', {}).then((s) => useNodeStore.getState().setStatus(s), warn('node status')),
    bridge.invoke('agents.list', {}).then((a) => useAgentsStore.getState().replaceAll(a), warn('agents')),
    bridge.invoke('messages.list', {}).then((m) => useFeedStore.getState().upsert(m), warn('messages')),
    bridge.invoke('settings.get', {}).then((s) => useSettingsStore.getState().setSettings(s), warn('settings')),
    bridge.invoke('app.info', {}).then((a) => useSettingsStore.getState().setApp(a), warn('app info')),
  ]).then(() => undefined)
}

export function connectStores(bridge: Bridge, terminals: TerminalSink, options: SyncOptions = { toasts: true }): () => void {
  const offEvent = bridge.onEvent((event, payload) => {
    const parsed = parseEvent(event, payload)
    if (parsed) applyEvent(parsed, terminals, options)
  })
  const setHostLink = useNodeStore.getState().setHostLink
  setHostLink(bridge.connected ? 'connected' : 'connecting')
  if (bridge.connected) void fetchState(bridge)
  const offLink = bridge.onConnectionChange?.((up) => {
    setHostLink(up ? 'connected' : 'disconnected')
    if (!up) return
    void fetchState(bridge)
    terminals.resync()
  })
  return () => {
    offEvent()
    offLink?.()
  }
}
