import { describe, expect, it, vi } from 'vitest'
import type { MenuItemConstructorOptions } from 'electron'
import { buildTrayMenuTemplate, trayIconFile, trayState, trayTooltip, type TrayActions } from '../../electron/main/tray-model'
import { agent, status } from './fixtures'

describe('trayState', () => {
  it('is disconnected whenever the node is not connected', () => {
    for (const state of ['starting', 'connecting', 'reconnecting', 'disconnected'] as const) {
      expect(trayState(status({ state }), [agent('a'), agent('b', { status: 'failed' })])).toBe('disconnected')
    }
  })

  it('needs attention when an agent failed or exited non-zero', () => {
    expect(trayState(status(), [agent('a'), agent('b', { status: 'failed' })])).toBe('attention')
    expect(trayState(status(), [agent('b', { status: 'exited', exitCode: 1 })])).toBe('attention')
  })

  it('is working while any agent runs or starts', () => {
    expect(trayState(status(), [agent('a', { status: 'starting' })])).toBe('working')
    expect(trayState(status(), [agent('a'), agent('b', { status: 'exited', exitCode: 0 })])).toBe('working')
  })

  it('is idle otherwise', () => {
    expect(trayState(status(), [])).toBe('idle')
    expect(trayState(status(), [agent('a', { status: 'exited', exitCode: 0 }), agent('b', { status: 'exited', exitCode: null })])).toBe('idle')
  })
})

describe('tooltip and icon', () => {
  it('counts running and failing agents', () => {
    const text = trayTooltip(status(), [agent('a'), agent('b'), agent('c', { status: 'failed' })])
    expect(text).toBe('Relay: laptop connected · 2 running · 1 needs attention')
  })

  it('uses the template image only for idle on macOS', () => {
    expect(trayIconFile('idle', 'darwin')).toBe('trayTemplate.png')
    expect(trayIconFile('attention', 'darwin')).toBe('tray-attention.png')
    expect(trayIconFile('idle', 'linux')).toBe('tray-idle.png')
  })
})

function actions() {
  return {
    reconnect: vi.fn(),
    openTerminal: vi.fn(),
    stopAgent: vi.fn(),
    spawnAgent: vi.fn(),
    openWindow: vi.fn(),
    openSettings: vi.fn(),
    quit: vi.fn(),
  } satisfies TrayActions
}

const byId = (items: MenuItemConstructorOptions[], id: string) => {
  for (const item of items) {
    if (item.id === id) return item
    if (Array.isArray(item.submenu)) {
      const found = item.submenu.find((sub) => sub.id === id)
      if (found) return found
    }
  }
  throw new Error(`no menu item ${id}`)
}
const click = (item: MenuItemConstructorOptions) => (item.click as () => void)()

describe('buildTrayMenuTemplate', () => {
  const agents = [agent('alice'), agent('bob', { status: 'starting' }), agent('carol', { status: 'failed' })]

  it('lists status, engine, agents and every action', () => {
    const items = buildTrayMenuTemplate(status({ state: 'reconnecting', reason: 'engine unreachable' }), agents, actions())
    expect(byId(items, 'node-status')).toMatchObject({ label: 'Node laptop: reconnecting…', enabled: false })
    expect(byId(items, 'engine-url')).toMatchObject({ label: 'Engine: http://127.0.0.1:4100 (built-in)', enabled: false })
    expect(byId(items, 'node-reason').label).toBe('engine unreachable')
    expect(byId(items, 'agents-count').label).toBe('2 agents running, 1 need attention')
    const labels = items.map((i) => i.label)
    expect(labels).toEqual(
      expect.arrayContaining(['Reconnect', 'alice', 'bob (starting)', 'Spawn agent…', 'Open window', 'Settings…', 'Quit and stop agents']),
    )
    // Only live agents get a Stop/Open submenu.
    expect(items.find((i) => i.id === 'agent:carol')).toBeUndefined()
    expect((byId(items, 'agent:alice').submenu as MenuItemConstructorOptions[]).map((i) => i.label)).toEqual(['Open terminal', 'Stop'])
  })

  it('wires every item to its action', () => {
    const a = actions()
    const items = buildTrayMenuTemplate(status(), agents, a)
    click(byId(items, 'reconnect'))
    click(byId(items, 'agent:alice:open'))
    click(byId(items, 'agent:bob:stop'))
    click(byId(items, 'spawn'))
    click(byId(items, 'open-window'))
    click(byId(items, 'settings'))
    click(byId(items, 'quit'))
    expect(a.reconnect).toHaveBeenCalledOnce()
    expect(a.openTerminal).toHaveBeenCalledWith('alice')
    expect(a.stopAgent).toHaveBeenCalledWith('bob')
    expect(a.spawnAgent).toHaveBeenCalledOnce()
    expect(a.openWindow).toHaveBeenCalledOnce()
    expect(a.openSettings).toHaveBeenCalledOnce()
    expect(a.quit).toHaveBeenCalledOnce()
  })

  it('marks agents that need the user', () => {
    const items = buildTrayMenuTemplate(status(), [agent('alice', { attention: true }), agent('bob', { activity: 'idle' })], actions())
    expect(byId(items, 'agent:alice').label).toBe('alice (needs you)')
    expect(byId(items, 'agent:bob').label).toBe('bob (waiting)')
  })

  it('says so when nothing runs', () => {
    expect(byId(buildTrayMenuTemplate(status(), [], actions()), 'agents-count').label).toBe('0 agents running')
  })
})
