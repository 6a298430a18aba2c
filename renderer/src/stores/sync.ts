/**
 * Keeps the stores in step with the host: applies validated events, fetches the full state
 * when the link comes up (first connect and every reconnect), and routes terminal bytes to
 * the terminal sink, which lives outside zustand.
 */
import type { AgentInfo, FeedMessage } from '../../../shared/ipc'
import type { Bridge } from '../bridge'
import { useAgentsStore } from './agents'
import { useDiffStore } from './diff'
import { parseEvent, type AppEvent } from './events'
import { useFeedStore } from './feed'
import { useNodeStore } from './node'
import { useSettingsStore } from './settings'
import { useToastStore } from './toasts'
import { useUiStore } from './ui'

export interface SyncOptions {
  /** Show host notifications as in-page toasts (headless mode; Electron shows them natively). */
  toasts: boolean
  /**
   * Coalesce store updates: at 200 messages/s each message changes ~7 times (and its agent
   * twice), and one store update and render per change would eat every frame. Given a
   * scheduler, events are applied once per frame; without one (tests), at once.
   */
  schedule?: (flush: () => void) => void
}

/** What the stores need from the terminal layer; the xterm registry implements it. */
export interface TerminalSink {
  output(name: string, data: string): void
  removed(name: string): void
  /** The link came back: re-fetch scrollback for every open terminal. */
  resync(): void
}

/** At most this often the feed takes a batch of message updates (a person reads slower than that). */
export const FEED_FLUSH_MS = 150

/**
 * Store events waiting for the next frame. Applied together in one task, React renders once
 * for all of them. Agent changes are applied as one upsert per frame (with 1000 agents, a
 * copy of the agent map per change was the frame). Message updates are merged into one feed
 * upsert at most every FEED_FLUSH_MS: at 200 messages/s, re-laying out the feed every frame
 * was most of the page's work (measured with the UI bench).
 */
function eventBatcher(
  schedule: ((flush: () => void) => void) | undefined,
  apply: (e: AppEvent, upsert: (m: FeedMessage) => void) => void,
  now: () => number = () => performance.now(),
) {
  let pending: AppEvent[] = []
  let messages: FeedMessage[] = []
  let scheduled = false
  let lastFeedFlush = 0
  const flush = () => {
    scheduled = false
    const batch = pending
    pending = []
    let agents: AgentInfo[] = []
    for (const e of batch) {
      if (e.event === 'agent.changed') {
        agents.push(e.payload)
        continue
      }
      // Anything else about agents (a removal) must see the changes before it.
      if (agents.length && e.event === 'agent.removed') {
        useAgentsStore.getState().upsertMany(agents)
        agents = []
      }
      apply(e, (m) => messages.push(m))
    }
    if (agents.length) useAgentsStore.getState().upsertMany(agents)
    if (!messages.length) return
    if (now() - lastFeedFlush >= FEED_FLUSH_MS) {
      lastFeedFlush = now()
      const out = messages
      messages = []
      useFeedStore.getState().upsert(out)
    } else if (schedule) {
      // Come back for the held messages even if no other event arrives.
      scheduled = true
      schedule(flush)
    }
  }
  const queue = (e: AppEvent) => {
    if (!schedule) return apply(e, (m) => useFeedStore.getState().upsert([m]))
    pending.push(e)
    if (scheduled) return
    scheduled = true
    schedule(flush)
  }
  return { queue, flush }
}

/** The batcher of the connected stores (none before connectStores or after it is undone). */
let flushPending: (() => void) | null = null

/**
 * Applies the store events still waiting for their frame. Call it before putting a command's
 * result into a store: the transport is ordered, so events that arrived before the result are
 * older than it, and applied after it (on the next frame) they would undo it. (An agent
 * spawned with a worktree: the host's `starting`/`running` events, sent while it spawned,
 * carry no worktree; the spawn's result does.)
 */
export function flushEvents(): void {
  flushPending?.()
}

export function applyEvent(
  e: AppEvent,
  terminals: TerminalSink,
  options: SyncOptions = { toasts: true },
  upsertMessage: (m: FeedMessage) => void = (m) => useFeedStore.getState().upsert([m]),
): void {
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
      useDiffStore.getState().forget(e.payload.name)
      terminals.removed(e.payload.name)
      return
    case 'terminal.output':
      terminals.output(e.payload.name, e.payload.data)
      return
    case 'message.changed':
      upsertMessage(e.payload)
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
    case 'diff.changed':
      // Only a version bump: the diff view on screen (if any) asks again.
      useDiffStore.getState().changed(e.payload.name)
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
    bridge.invoke('agents.list', {}).then((a) => {
      flushEvents()
      useAgentsStore.getState().replaceAll(a)
    }, warn('agents')),
    bridge.invoke('messages.list', {}).then((m) => useFeedStore.getState().upsert(m), warn('messages')),
    bridge.invoke('settings.get', {}).then((s) => useSettingsStore.getState().setSettings(s), warn('settings')),
    bridge.invoke('app.info', {}).then((a) => useSettingsStore.getState().setApp(a), warn('app info')),
  ]).then(() => undefined)
}

export function connectStores(bridge: Bridge, terminals: TerminalSink, options: SyncOptions = { toasts: true }): () => void {
  const { queue, flush } = eventBatcher(options.schedule, (e, upsert) => applyEvent(e, terminals, options, upsert))
  flushPending = flush
  const offEvent = bridge.onEvent((event, payload) => {
    const parsed = parseEvent(event, payload)
    if (!parsed) return
    // Terminal bytes have their own per-frame buffer; they must not wait behind store work.
    if (parsed.event === 'terminal.output') applyEvent(parsed, terminals, options)
    else queue(parsed)
  })
  const setHostLink = useNodeStore.getState().setHostLink
  setHostLink(bridge.connected ? 'connected' : 'connecting')
  if (bridge.connected) void fetchState(bridge)
  const offLink = bridge.onConnectionChange?.((up) => {
    setHostLink(up ? 'connected' : 'disconnected')
    if (!up) return
    void fetchState(bridge)
    terminals.resync()
    // Changes may have been missed while the link was down.
    useDiffStore.getState().changedAll()
  })
  return () => {
    offEvent()
    offLink?.()
    if (flushPending === flush) flushPending = null
  }
}
