import { beforeEach, describe, expect, it, vi } from 'vitest'
import type { RelayApi } from '../../electron/preload/api'
import { commandNames } from '../../shared/ipc/contract'

type Listener = (event: unknown, ...args: unknown[]) => void

const electron = vi.hoisted(() => {
  const listeners = new Map<string, Set<Listener>>()
  return {
    listeners,
    exposed: new Map<string, unknown>(),
    ipcRenderer: {
      invoke: vi.fn(async (..._args: unknown[]): Promise<unknown> => ({ ok: true, result: { ok: true } })),
      on: vi.fn((channel: string, listener: Listener) => {
        if (!listeners.has(channel)) listeners.set(channel, new Set())
        listeners.get(channel)!.add(listener)
      }),
      removeListener: vi.fn((channel: string, listener: Listener) => void listeners.get(channel)?.delete(listener)),
    },
  }
})

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => electron.exposed.set(key, api) },
  ipcRenderer: electron.ipcRenderer,
}))

async function loadPreload(): Promise<RelayApi> {
  vi.resetModules()
  electron.exposed.clear()
  await import('../../electron/preload/index')
  return electron.exposed.get('relay') as RelayApi
}

beforeEach(() => {
  electron.ipcRenderer.invoke.mockClear()
  electron.listeners.clear()
})

describe('preload', () => {
  it('exposes only window.relay: one function per contract command, and onEvent', async () => {
    const relay = await loadPreload()
    expect([...electron.exposed.keys()]).toEqual(['relay'])
    expect(Object.keys(relay).sort()).toEqual(['commands', 'onEvent'])
    expect(Object.keys(relay.commands).sort()).toEqual([...commandNames].sort())
    expect(Object.values(relay.commands).every((v) => typeof v === 'function')).toBe(true)
    // No generic door: no invoke(channel), no ipcRenderer, frozen so the page can't add one.
    expect('invoke' in relay).toBe(false)
    expect(Object.isFrozen(relay.commands)).toBe(true)
  })

  it('sends each command over its own channel', async () => {
    const relay = await loadPreload()
    const outcome = await relay.commands['agents.stop']({ name: 'alice' })
    expect(outcome).toEqual({ ok: true, result: { ok: true } })
    expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith('relay:cmd:agents.stop', { name: 'alice' })
  })

  it('has nothing for unknown commands', async () => {
    const relay = await loadPreload()
    for (const name of ['shell.exec', 'constructor', '__proto__', '']) {
      expect(Object.prototype.hasOwnProperty.call(relay.commands, name)).toBe(false)
    }
    expect(electron.ipcRenderer.invoke).not.toHaveBeenCalled()
  })

  it('turns a transport failure into an outcome', async () => {
    const relay = await loadPreload()
    electron.ipcRenderer.invoke.mockRejectedValueOnce(new Error('An object could not be cloned.'))
    expect(await relay.commands['node.status']({})).toEqual({
      ok: false,
      error: { code: 'ipc_failed', message: 'node.status could not be sent: An object could not be cloned.' },
    })
  })

  it('delivers events without the Electron event object, and unsubscribes', async () => {
    const relay = await loadPreload()
    const seen: unknown[][] = []
    const off = relay.onEvent((...args) => seen.push(args))
    const fire = (...args: unknown[]) => {
      for (const l of electron.listeners.get('relay:event') ?? []) l({ sender: 'ipcRenderer!' }, ...args)
    }
    fire('agent.removed', { name: 'alice' })
    expect(seen).toEqual([['agent.removed', { name: 'alice' }]])
    off()
    fire('agent.removed', { name: 'bob' })
    expect(seen).toHaveLength(1)
  })
})
