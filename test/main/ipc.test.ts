import { describe, expect, it, vi } from 'vitest'
import type { CommandName, CommandOutcome, EventName } from '../../shared/ipc/contract'
import { commandNames } from '../../shared/ipc/contract'
import { EVENT_CHANNEL, EVENTS_CHANNEL, commandChannel, registerIpc } from '../../electron/main/ipc'
import { HostConnection, OutputFlow } from '../../electron/host/connection'
import { rendererLocation } from '../../electron/main/renderer-location'

// ipc.ts only imports Electron types; fail loudly if that ever changes without a mock.
vi.mock('electron', () => {
  throw new Error('ipc.ts must not need the electron runtime')
})

const APP_URL = 'file:///app/out/renderer/index.html'
const { isAppUrl } = rendererLocation({ indexFile: '/app/out/renderer/index.html' })

type Handler = (event: unknown, ...args: unknown[]) => Promise<CommandOutcome<CommandName>>

function setup() {
  const handlers = new Map<string, Handler>()
  const ipcMain = {
    handle: vi.fn((channel: string, handler: Handler) => void handlers.set(channel, handler)),
    removeHandler: vi.fn((channel: string) => void handlers.delete(channel)),
  }
  let emit: (event: EventName, payload: unknown) => void = () => undefined
  const unsubscribe = vi.fn()
  const paused = new Set<string>()
  const flow = new OutputFlow({ pause: (n) => void paused.add(n), resume: (n) => void paused.delete(n), paused: (n) => paused.has(n) }, 100, 10)
  const host = {
    invoke: vi.fn(async (_command?: string, _request?: unknown): Promise<CommandOutcome<CommandName>> => ({ ok: true, result: { ok: true } })),
    onEvent: vi.fn((listener: typeof emit) => {
      emit = listener
      return unsubscribe
    }),
    connect: (send: (batch: never) => void) =>
      new HostConnection({ invoke: (c, r) => host.invoke(c as never, r as never), scrollback: (name) => `scrollback of ${name}`, flow, send }),
  }
  let ids = 1
  const win = (destroyed = false) => ({
    isDestroyed: () => destroyed,
    webContents: { id: ids++, send: vi.fn(), isDestroyed: () => false },
  })
  const windows = [win(), win(), win(true)]
  const log = vi.fn()
  const dispose = registerIpc({ ipcMain: ipcMain as never, host, windows: () => windows, isAppUrl, log })
  const call = (command: string, request: unknown, frame: unknown = { url: APP_URL, parent: null }) => {
    const handler = handlers.get(`relay:cmd:${command}`)
    // No channel for an unknown command: the renderer cannot reach the host with it at all.
    if (!handler) return Promise.resolve({ ok: false, error: { code: 'unknown_command', message: `no channel for ${command}` } })
    return handler({ senderFrame: frame, sender: windows[0].webContents }, request)
  }
  return { ipcMain, handlers, host, windows, emit: (e: EventName, p: unknown) => emit(e, p), unsubscribe, dispose, call, log, paused }
}

describe('relay:invoke', () => {
  it('passes a valid request through to the host, parsed', async () => {
    const t = setup()
    t.host.invoke.mockResolvedValueOnce({ ok: true, result: { ok: true } })
    const outcome = await t.call('agents.spawn', { name: ' alice ', command: 'claude' })
    expect(outcome).toEqual({ ok: true, result: { ok: true } })
    // Parsed by the contract: name trimmed, args defaulted.
    expect(t.host.invoke).toHaveBeenCalledWith('agents.spawn', { name: 'alice', command: 'claude', args: [], channels: [], restart: false })
  })

  it('registers exactly one channel per contract command, and no generic one', async () => {
    const t = setup()
    expect([...t.handlers.keys()].sort()).toEqual(commandNames.map(commandChannel).sort())
    expect(t.handlers.has('relay:invoke')).toBe(false)
    expect(await t.call('fs.readFile', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'unknown_command' } })
    expect(t.host.invoke).not.toHaveBeenCalled()
  })

  it('rejects an invalid request with a readable message', async () => {
    const t = setup()
    const outcome = await t.call('agents.spawn', { name: '', command: 'claude' })
    expect(outcome).toEqual({ ok: false, error: { code: 'invalid_request', message: 'name: name is required' } })
    expect(await t.call('agents.stop', { name: 'a', extra: true })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(t.host.invoke).not.toHaveBeenCalled()
  })

  it('refuses foreign sender frames', async () => {
    const t = setup()
    const foreign = [
      { url: 'https://evil.example/', parent: null },
      { url: 'file:///tmp/evil.html', parent: null },
      { url: APP_URL, parent: { url: APP_URL } }, // a subframe
      null,
    ]
    for (const frame of foreign) {
      expect(await t.call('node.status', {}, frame)).toMatchObject({ ok: false, error: { code: 'forbidden' } })
    }
    const disposed = {
      get url(): string {
        throw new Error('Render frame was disposed')
      },
      parent: null,
    }
    expect(await t.call('node.status', {}, disposed)).toMatchObject({ ok: false, error: { code: 'forbidden' } })
    expect(t.host.invoke).not.toHaveBeenCalled()
  })

  it('accepts the dev server origin in dev', async () => {
    const handlers = new Map<string, Handler>()
    const host = { invoke: vi.fn(async () => ({ ok: true as const, result: { ok: true } })), onEvent: () => () => undefined }
    registerIpc({
      ipcMain: { handle: (c: string, h: Handler) => void handlers.set(c, h), removeHandler: () => undefined } as never,
      host: host as never,
      windows: () => [],
      isAppUrl: rendererLocation({ devServerUrl: 'http://localhost:5173', indexFile: '/x' }).isAppUrl,
    })
    const call = (url: string) => handlers.get(commandChannel('node.reconnect'))!({ senderFrame: { url, parent: null } }, {})
    expect(await call('http://localhost:5173/src/main.tsx')).toMatchObject({ ok: true })
    expect(await call('http://localhost:5174/')).toMatchObject({ ok: false, error: { code: 'forbidden' } })
  })

  it('turns a host throw into an internal error value', async () => {
    const t = setup()
    t.host.invoke.mockRejectedValueOnce(new Error('database is locked'))
    expect(await t.call('node.status', {})).toEqual({
      ok: false,
      error: { code: 'internal', message: 'node.status failed: database is locked' },
    })
    expect(t.log).toHaveBeenCalled()
  })
})

/** The connections flush after the current turn of the event loop. */
const turn = () => new Promise((r) => setImmediate(r))

describe('relay:event', () => {
  it('forwards host events to every live window', async () => {
    const t = setup()
    t.emit('agent.removed', { name: 'alice' })
    await turn()
    expect(t.windows[0].webContents.send).toHaveBeenCalledWith(EVENT_CHANNEL, 'agent.removed', { name: 'alice' })
    expect(t.windows[1].webContents.send).toHaveBeenCalledWith(EVENT_CHANNEL, 'agent.removed', { name: 'alice' })
    expect(t.windows[2].webContents.send).not.toHaveBeenCalled()
  })

  it('sends what the host emitted in one turn as one message, in order', async () => {
    const t = setup()
    t.emit('agent.removed', { name: 'a' })
    t.emit('agent.removed', { name: 'b' })
    await turn()
    expect(t.windows[0].webContents.send).toHaveBeenCalledTimes(1)
    expect(t.windows[0].webContents.send).toHaveBeenCalledWith(EVENTS_CHANNEL, [
      { event: 'agent.removed', payload: { name: 'a' } },
      { event: 'agent.removed', payload: { name: 'b' } },
    ])
  })

  it('keeps delivering when one window throws', async () => {
    const t = setup()
    t.windows[0].webContents.send.mockImplementationOnce(() => {
      throw new Error('Object has been destroyed')
    })
    t.emit('agent.removed', { name: 'a' })
    await turn()
    expect(t.windows[1].webContents.send).toHaveBeenCalledTimes(1)
  })

  it('sends terminal output only to the window subscribed to it, and pauses on unacked output', async () => {
    const t = setup()
    t.emit('terminal.output', { name: 'a', data: 'before' })
    expect(await t.call('terminal.subscribe', { name: 'a' })).toEqual({ ok: true, result: { data: 'scrollback of a' } })
    expect(t.host.invoke).not.toHaveBeenCalled()
    t.emit('terminal.output', { name: 'a', data: 'x'.repeat(150) })
    await turn()
    expect(t.windows[0].webContents.send).toHaveBeenCalledTimes(1)
    expect(t.windows[0].webContents.send).toHaveBeenCalledWith(EVENT_CHANNEL, 'terminal.output', { name: 'a', data: 'x'.repeat(150) })
    expect(t.windows[1].webContents.send).not.toHaveBeenCalled()
    // 150 unacked past a high watermark of 100: paused until the window acks below 10.
    expect(t.paused.has('a')).toBe(true)
    expect(await t.call('terminal.ack', { name: 'a', chars: 100 })).toEqual({ ok: true, result: { ok: true } })
    expect(t.paused.has('a')).toBe(true)
    await t.call('terminal.ack', { name: 'a', chars: 45 })
    expect(t.paused.has('a')).toBe(false)
  })

  it('a window that goes away releases the output it held back', async () => {
    const t = setup()
    await t.call('terminal.subscribe', { name: 'a' })
    t.emit('terminal.output', { name: 'a', data: 'x'.repeat(150) })
    await turn()
    expect(t.paused.has('a')).toBe(true)
    t.dispose()
    expect(t.paused.has('a')).toBe(false)
  })

  it('unregisters both directions on dispose', () => {
    const t = setup()
    t.dispose()
    expect(t.unsubscribe).toHaveBeenCalled()
    expect(t.ipcMain.removeHandler).toHaveBeenCalledWith(commandChannel('agents.spawn'))
    expect(t.handlers.size).toBe(0)
  })
})
