// @vitest-environment happy-dom
import { afterEach, expect, test, vi } from 'vitest'
import { createWebSocketBridge, ipcSocketUrl, resolveToken, type SocketLike, type WebSocketBridge } from '../../renderer/src/bridge'
import { agent } from './fakes'

/** A scripted socket: the test plays the host's side of the frames. */
class FakeSocket implements SocketLike {
  readyState = 0
  readonly sent: Array<{ id: number; command: string; request: unknown }> = []
  onopen: ((ev: unknown) => void) | null = null
  onclose: ((ev: unknown) => void) | null = null
  onerror: ((ev: unknown) => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data))
  }
  close() {
    this.drop()
  }
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  drop() {
    this.readyState = 3
    this.onclose?.({})
  }
  receive(frame: unknown) {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) })
  }
}

interface Harness {
  bridge: WebSocketBridge
  sockets: FakeSocket[]
  timers: Array<{ fn: () => void; ms: number }>
  links: boolean[]
}

let harness: Harness | null = null
afterEach(() => {
  harness?.bridge.close()
  harness = null
  vi.restoreAllMocks()
})

function setup(): Harness {
  const sockets: FakeSocket[] = []
  const timers: Harness['timers'] = []
  const bridge = createWebSocketBridge({
    url: 'ws://host/ipc?token=t',
    openSocket: (url) => {
      const s = new FakeSocket(url)
      sockets.push(s)
      return s
    },
    setTimer: (fn, ms) => {
      timers.push({ fn, ms })
      return timers.length
    },
    clearTimer: () => {},
    random: () => 1,
  })
  const links: boolean[] = []
  bridge.onConnectionChange((up) => links.push(up))
  harness = { bridge, sockets, timers, links }
  return harness
}

test('sends command frames and resolves with the parsed result', async () => {
  const { bridge, sockets } = setup()
  sockets[0].open()
  expect(bridge.connected).toBe(true)

  const pending = bridge.invoke('agents.list', {})
  expect(sockets[0].sent).toEqual([{ id: 1, command: 'agents.list', request: {} }])
  sockets[0].receive({ kind: 'result', id: 1, outcome: { ok: true, result: [agent('alpha')] } })
  await expect(pending).resolves.toEqual([agent('alpha')])
})

test('rejects with the contract error code and message on {ok:false}', async () => {
  const { bridge, sockets } = setup()
  sockets[0].open()
  const pending = bridge.invoke('agents.stop', { name: 'ghost' })
  sockets[0].receive({ kind: 'result', id: 1, outcome: { ok: false, error: { code: 'not_found', message: 'no agent named "ghost"' } } })
  await expect(pending).rejects.toMatchObject({ code: 'not_found', message: 'no agent named "ghost"' })
})

test('rejects a result that does not match the contract', async () => {
  vi.spyOn(console, 'warn').mockImplementation(() => {})
  const { bridge, sockets } = setup()
  sockets[0].open()
  const pending = bridge.invoke('terminal.snapshot', { name: 'a' })
  sockets[0].receive({ kind: 'result', id: 1, outcome: { ok: true, result: { data: 7 } } })
  await expect(pending).rejects.toMatchObject({ code: 'invalid_result' })
})

test('forwards events and drops malformed frames and unknown events', () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  const { bridge, sockets } = setup()
  const seen: Array<[string, unknown]> = []
  bridge.onEvent((event, payload) => seen.push([event, payload]))
  sockets[0].open()
  sockets[0].receive({ kind: 'event', event: 'terminal.output', payload: { name: 'a', data: 'x' } })
  sockets[0].receive('not json')
  sockets[0].receive({ kind: 'mystery' })
  sockets[0].receive({ kind: 'event', event: 'bogus.event', payload: {} })
  sockets[0].receive({ kind: 'result', id: 99, outcome: { ok: true, result: {} } })
  expect(seen).toEqual([['terminal.output', { name: 'a', data: 'x' }]])
  expect(warn).toHaveBeenCalledTimes(4)
})

test('unpacks a batch: events and results in the order the host sent them', async () => {
  const { bridge, sockets } = setup()
  const seen: string[] = []
  bridge.onEvent((event, payload) => seen.push(`${event} ${(payload as { name: string }).name}`))
  sockets[0].open()
  const pending = bridge.invoke('terminal.subscribe', { name: 'a' }).then((r) => seen.push(`result ${r.data}`))
  sockets[0].receive({
    kind: 'batch',
    frames: [
      { kind: 'event', event: 'agent.removed', payload: { name: 'x' } },
      { kind: 'result', id: 1, outcome: { ok: true, result: { data: 'scrollback' } } },
      { kind: 'event', event: 'terminal.output', payload: { name: 'a', data: 'live' } },
    ],
  })
  await pending
  expect(seen).toEqual(['agent.removed x', 'terminal.output a', 'result scrollback'])
})

test('pending invokes reject when the socket closes; invokes while down reject at once', async () => {
  const { bridge, sockets } = setup()
  sockets[0].open()
  const pending = bridge.invoke('node.status', {})
  sockets[0].drop()
  await expect(pending).rejects.toMatchObject({ code: 'disconnected' })
  expect(bridge.connected).toBe(false)
  await expect(bridge.invoke('node.status', {})).rejects.toMatchObject({ code: 'disconnected' })
})

test('reconnects with growing, capped backoff and reports the link each time', () => {
  const { sockets, timers, links } = setup()
  sockets[0].open()
  sockets[0].drop()
  expect(links).toEqual([true, false])

  // random() = 1 gives the full delay: 250, 500, 1000, ... capped at 5000.
  const delays: number[] = []
  for (let i = 0; i < 7; i++) {
    const timer = timers[timers.length - 1]
    delays.push(timer.ms)
    timer.fn()
    sockets[sockets.length - 1].drop()
  }
  expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000])

  timers[timers.length - 1].fn()
  const latest = sockets[sockets.length - 1]
  latest.open()
  expect(links[links.length - 1]).toBe(true)
  // A successful open resets the backoff.
  latest.drop()
  expect(timers[timers.length - 1].ms).toBe(250)
})

test('close() stops reconnecting', () => {
  const { bridge, sockets, timers } = setup()
  sockets[0].open()
  bridge.close()
  expect(timers).toEqual([])
  expect(bridge.connected).toBe(false)
})

test('the token comes from the URL, is remembered for the session, and goes into the socket URL', () => {
  const store = new Map<string, string>()
  const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) }
  expect(resolveToken('?token=abc%2B1', storage)).toBe('abc+1')
  expect(resolveToken('', storage)).toBe('abc+1')
  expect(resolveToken('', undefined)).toBeNull()
  expect(ipcSocketUrl({ protocol: 'http:', host: '127.0.0.1:4000' }, 'abc+1')).toBe('ws://127.0.0.1:4000/ipc?token=abc%2B1')
  expect(ipcSocketUrl({ protocol: 'https:', host: 'h' }, 't')).toBe('wss://h/ipc?token=t')
})
