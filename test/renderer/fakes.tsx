/**
 * Test doubles at the renderer's edge: an in-memory Bridge that records invokes and lets a
 * test script replies and emit events, a terminal host that records attaches, and a tiny
 * render helper (react-dom/client + act; @testing-library is not installed).
 */
import { act, type ReactNode } from 'react'
import { createRoot, type Root } from 'react-dom/client'
import type { AgentInfo, AppInfo, CommandName, CommandRequest, CommandResult, EventName, FeedMessage, SettingsView } from '../../shared/ipc'
import { BridgeError, type Bridge, type BridgeEventListener } from '../../renderer/src/bridge'
import { ServicesProvider } from '../../renderer/src/components/app/services'
import type { TerminalHost } from '../../renderer/src/terminal/types'
import type { TerminalSink } from '../../renderer/src/stores'
import { useAgentsStore, useDiffStore, useFeedStore, useNodeStore, useSettingsStore, useToastStore, useUiStore } from '../../renderer/src/stores'
import { emptyFeed } from '../../renderer/src/stores/feed-order'

;(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true

type Handler = (request: unknown) => unknown

export interface Invocation {
  command: CommandName
  request: unknown
}

export class FakeBridge implements Bridge {
  readonly invocations: Invocation[] = []
  connected = true
  private readonly handlers = new Map<string, Handler>()
  private readonly listeners = new Set<BridgeEventListener>()
  private readonly linkListeners = new Set<(up: boolean) => void>()

  /** Script a command: return the result, or throw a BridgeError for `{ok:false}`. */
  on<C extends CommandName>(command: C, handler: (request: CommandRequest<C>) => CommandResult<C>): this {
    this.handlers.set(command, handler as Handler)
    return this
  }

  fail(command: CommandName, code: string, message: string): this {
    this.handlers.set(command, () => {
      throw new BridgeError(code, message)
    })
    return this
  }

  async invoke<C extends CommandName>(command: C, request: CommandRequest<C>): Promise<CommandResult<C>> {
    this.invocations.push({ command, request })
    const handler = this.handlers.get(command)
    if (!handler) throw new BridgeError('not_scripted', `${command} is not scripted in this test`)
    return handler(request) as CommandResult<C>
  }

  calls(command: CommandName): unknown[] {
    return this.invocations.filter((i) => i.command === command).map((i) => i.request)
  }

  onEvent(listener: BridgeEventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  onConnectionChange(listener: (up: boolean) => void): () => void {
    this.linkListeners.add(listener)
    return () => this.linkListeners.delete(listener)
  }

  /** Payload typed loosely on purpose: tests also send invalid ones. */
  emit(event: EventName, payload: unknown): void {
    for (const listener of this.listeners) listener(event, payload)
  }

  setConnected(up: boolean): void {
    this.connected = up
    for (const listener of this.linkListeners) listener(up)
  }
}

export class FakeTerminals implements TerminalHost, TerminalSink {
  readonly attached: string[] = []
  readonly output: (name: string, data: string) => void
  readonly removedNames: string[] = []
  resyncs = 0
  readonly written: Array<[string, string]> = []

  constructor() {
    this.output = (name, data) => {
      this.written.push([name, data])
    }
  }

  attach(name: string): () => void {
    this.attached.push(name)
    return () => {}
  }

  removed(name: string): void {
    this.removedNames.push(name)
  }

  resync(): void {
    this.resyncs += 1
  }
}

export function resetStores(): void {
  useNodeStore.setState({ status: null, hostLink: 'connecting' })
  useAgentsStore.setState({ byName: {} })
  useFeedStore.setState({ ...emptyFeed })
  useUiStore.setState({ selected: null, opened: {}, agentView: {}, feedAgent: '', feedChannel: '', feedState: '', dialog: null, dialogAgent: null })
  useDiffStore.setState({ byName: {}, versions: {} })
  useSettingsStore.setState({ settings: null, app: null })
  useToastStore.setState({ toasts: [] })
}

export interface Rendered {
  container: HTMLElement
  root: Root
  unmount(): void
}

export function render(ui: ReactNode, bridge: Bridge, terminals: TerminalHost = new FakeTerminals()): Rendered {
  const container = document.createElement('div')
  document.body.appendChild(container)
  const root = createRoot(container)
  act(() => {
    root.render(<ServicesProvider services={{ bridge, terminals }}>{ui}</ServicesProvider>)
  })
  return {
    container,
    root,
    unmount() {
      act(() => root.unmount())
      container.remove()
    },
  }
}

export function byTestId<T extends HTMLElement = HTMLElement>(root: ParentNode, id: string): T {
  const el = root.querySelector<T>(`[data-testid="${id}"]`)
  if (!el) throw new Error(`no element with data-testid="${id}"`)
  return el
}

export function queryTestId(root: ParentNode, id: string): HTMLElement | null {
  return root.querySelector<HTMLElement>(`[data-testid="${id}"]`)
}

/**
 * React tracks input values itself, so assigning `.value` is not seen by onChange; go
 * through the native setter like a user agent would.
 */
export function typeInto(el: HTMLInputElement | HTMLTextAreaElement, value: string): void {
  const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype
  const setter = Object.getOwnPropertyDescriptor(proto, 'value')?.set
  act(() => {
    setter?.call(el, value)
    el.dispatchEvent(new Event('input', { bubbles: true }))
  })
}

export async function click(el: HTMLElement): Promise<void> {
  await act(async () => {
    el.click()
  })
}

export async function pressKey(el: HTMLElement, key: string, init: KeyboardEventInit = {}): Promise<void> {
  await act(async () => {
    el.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init }))
  })
}

export async function flushAsync(): Promise<void> {
  await act(async () => {
    await Promise.resolve()
  })
}

// ---- fixtures -----------------------------------------------------------------

export function agent(name: string, patch: Partial<AgentInfo> = {}): AgentInfo {
  return {
    name,
    command: 'bash',
    args: [],
    cwd: '/tmp',
    status: 'running',
    pid: 4242,
    startedAt: 1_000,
    pendingInjections: 0,
    ...patch,
  }
}

export function message(id: string, patch: Partial<FeedMessage> = {}): FeedMessage {
  return {
    id,
    from: 'human',
    to: 'worker',
    text: `text of ${id}`,
    direction: 'in',
    state: 'received',
    steps: [{ state: 'received', at: 10_000 }],
    ...patch,
  }
}

export function settingsView(patch: Partial<SettingsView> = {}): SettingsView {
  return {
    engine: { mode: 'embedded', workspaceKeySet: false },
    notifications: { agentExited: true, agentIdle: true, agentBlocked: true, messageToUser: true, deliveryFailed: true, idleSeconds: 30 },
    startAtLogin: false,
    closeToTray: true,
    skipPermissionPrompts: false,
    restartRequired: false,
    engineOverridden: false,
    ...patch,
  }
}

export function appInfo(patch: Partial<AppInfo> = {}): AppInfo {
  return {
    mode: 'headless',
    platform: 'linux',
    version: '0.1.0',
    canPickDirectory: false,
    canStartAtLogin: false,
    nativeNotifications: false,
    dataDir: '/data',
    homeDir: '/home/me',
    ...patch,
  }
}
