import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MenuItemConstructorOptions } from 'electron'
import type { AgentInfo, CommandName, CommandOutcome, EventName, NodeStatus } from '../../shared/ipc/contract'
import { agent, status } from './fixtures'

const electron = vi.hoisted(() => {
  class FakeTray {
    static last: FakeTray
    image: unknown
    tooltip = ''
    menu: unknown
    listeners = new Map<string, () => void>()
    destroyed = false
    constructor(image: unknown) {
      this.image = image
      FakeTray.last = this
    }
    setImage(image: unknown) {
      this.image = image
    }
    setToolTip(text: string) {
      this.tooltip = text
    }
    setContextMenu(menu: unknown) {
      this.menu = menu
    }
    on(event: string, listener: () => void) {
      this.listeners.set(event, listener)
    }
    destroy() {
      this.destroyed = true
    }
  }
  return {
    FakeTray,
    Menu: { buildFromTemplate: vi.fn((template: unknown[]) => ({ template })) },
    nativeImage: { createFromPath: vi.fn((path: string) => ({ path, isEmpty: () => false })) },
  }
})

vi.mock('electron', () => ({ Tray: electron.FakeTray, Menu: electron.Menu, nativeImage: electron.nativeImage }))

import { createTray, hostTrayActions } from '../../electron/main/tray'

function fakeHost() {
  let listener: (event: EventName, payload: unknown) => void = () => undefined
  const host = {
    current: { status: status(), agents: [] as AgentInfo[] },
    invoke: vi.fn(async (): Promise<CommandOutcome<CommandName>> => ({ ok: true, result: { ok: true } })),
    onEvent: vi.fn((l: typeof listener) => {
      listener = l
      return () => (listener = () => undefined)
    }),
    status: (): NodeStatus => host.current.status,
    agents: (): AgentInfo[] => host.current.agents,
    emit: (event: EventName) => listener(event, {}),
  }
  return host
}

const ui = () => ({ showWindow: vi.fn(), focusAgent: vi.fn(), openSpawn: vi.fn(), openSettings: vi.fn(), quit: vi.fn() })
const menuOf = (tray: InstanceType<typeof electron.FakeTray>) => (tray.menu as { template: MenuItemConstructorOptions[] }).template

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('hostTrayActions', () => {
  it('sends the right host commands', async () => {
    const host = fakeHost()
    const u = ui()
    const a = hostTrayActions(host, u)
    a.reconnect()
    a.stopAgent('alice')
    expect(host.invoke).toHaveBeenNthCalledWith(1, 'node.reconnect', {})
    expect(host.invoke).toHaveBeenNthCalledWith(2, 'agents.stop', { name: 'alice' })
    a.openTerminal('alice')
    expect(u.focusAgent).toHaveBeenCalledWith('alice')
    a.spawnAgent()
    expect(u.openSpawn).toHaveBeenCalledOnce()
    a.openSettings()
    expect(u.openSettings).toHaveBeenCalledOnce()
    a.openWindow()
    expect(u.showWindow).toHaveBeenCalledOnce()
    a.quit()
    expect(u.quit).toHaveBeenCalledOnce()
  })

  it('logs a failed command instead of throwing', async () => {
    const host = fakeHost()
    host.invoke.mockResolvedValueOnce({ ok: false, error: { code: 'not_found', message: 'no agent bob' } })
    host.invoke.mockRejectedValueOnce(new Error('boom'))
    const log = vi.fn()
    const a = hostTrayActions(host, ui(), log)
    a.stopAgent('bob')
    a.reconnect()
    await vi.runAllTimersAsync()
    expect(log).toHaveBeenCalledWith('tray: agents.stop failed: no agent bob', expect.anything())
    expect(log).toHaveBeenCalledWith('tray: node.reconnect threw', expect.any(Error))
  })
})

describe('createTray', () => {
  it('draws the current state, then redraws once per burst of host events', () => {
    const host = fakeHost()
    host.current.status = status({ state: 'connecting' })
    const controller = createTray({ host, ui: ui(), iconDir: '/icons', platform: 'linux', debounceMs: 100 })
    const tray = electron.FakeTray.last
    expect(tray.image).toMatchObject({ path: '/icons/tray-disconnected.png' })
    expect(tray.tooltip).toContain('connecting')

    host.current = { status: status(), agents: [agent('alice')] }
    const builds = electron.Menu.buildFromTemplate.mock.calls.length
    host.emit('node.status')
    host.emit('agent.changed')
    host.emit('terminal.output') // not tray-relevant
    expect(tray.image).toMatchObject({ path: '/icons/tray-disconnected.png' })
    vi.advanceTimersByTime(100)
    expect(electron.Menu.buildFromTemplate.mock.calls.length).toBe(builds + 1)
    expect(tray.image).toMatchObject({ path: '/icons/tray-working.png' })
    expect(tray.tooltip).toBe('Relay: laptop connected · 1 running')
    expect(menuOf(tray).some((i) => i.label === 'alice')).toBe(true)

    host.emit('terminal.output')
    vi.advanceTimersByTime(1000)
    expect(electron.Menu.buildFromTemplate.mock.calls.length).toBe(builds + 1)

    controller.destroy()
    expect(tray.destroyed).toBe(true)
  })

  it('menu clicks reach the host', () => {
    const host = fakeHost()
    host.current.agents = [agent('alice')]
    createTray({ host, ui: ui(), iconDir: '/icons', platform: 'linux' })
    const alice = menuOf(electron.FakeTray.last).find((i) => i.label === 'alice')!
    const stop = (alice.submenu as MenuItemConstructorOptions[]).find((i) => i.label === 'Stop')!
    ;(stop.click as () => void)()
    expect(host.invoke).toHaveBeenCalledWith('agents.stop', { name: 'alice' })
  })

  it('opens the window on click outside macOS', () => {
    const u = ui()
    createTray({ host: fakeHost(), ui: u, iconDir: '/icons', platform: 'win32' })
    electron.FakeTray.last.listeners.get('click')!()
    expect(u.showWindow).toHaveBeenCalled()
    createTray({ host: fakeHost(), ui: ui(), iconDir: '/icons', platform: 'darwin' })
    expect(electron.FakeTray.last.listeners.has('click')).toBe(false)
    expect(electron.FakeTray.last.image).toMatchObject({ path: '/icons/trayTemplate.png' })
  })
})
