// @vitest-environment happy-dom
/**
 * The terminal registry talks to the host for the terminal on screen only: it subscribes
 * when a terminal is shown (replaying the host's scrollback), unsubscribes when its tab or
 * the page is hidden, writes live output straight to xterm, and acks what xterm parsed.
 * xterm itself is replaced by a recording double (happy-dom has no layout for it).
 */
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import { OUTPUT_ACK_CHARS } from '../../shared/ipc'
import { FakeBridge } from './fakes'

const terms = vi.hoisted(() => [] as Array<{ writes: string[]; resets: number }>)

vi.mock('@xterm/xterm', () => {
  class Terminal {
    element: HTMLElement | undefined
    cols = 80
    rows = 24
    buffer = { active: { length: 0, getLine: () => undefined } }
    readonly record = { writes: [] as string[], resets: 0 }
    constructor() {
      terms.push(this.record)
    }
    loadAddon() {}
    onData() {}
    attachCustomKeyEventHandler() {}
    open(host: HTMLElement) {
      this.element = document.createElement('div')
      host.appendChild(this.element)
    }
    focus() {}
    reset() {
      this.record.resets++
      this.record.writes.length = 0
    }
    write(data: string, parsed?: () => void) {
      this.record.writes.push(data)
      // xterm calls back once it has parsed the data; here, on the next microtask.
      if (parsed) queueMicrotask(parsed)
    }
    dispose() {}
    getSelection() {
      return ''
    }
  }
  return { Terminal }
})
vi.mock('@xterm/addon-fit', () => ({
  FitAddon: class {
    proposeDimensions() {
      return undefined
    }
    fit() {}
  },
}))

const { TerminalRegistry } = await import('../../renderer/src/terminal/registry')

let registry: InstanceType<typeof TerminalRegistry>
let bridge: FakeBridge
beforeEach(() => {
  terms.length = 0
  bridge = new FakeBridge()
    .on('terminal.subscribe', ({ name }) => ({ data: `scrollback of ${name}\r\n` }))
    .on('terminal.unsubscribe', () => ({ ok: true as const }))
    .on('terminal.ack', () => ({ ok: true as const }))
  // Output is written on a microtask (after the batch it came in): flush it by awaiting.
  registry = new TerminalRegistry(bridge)
})
afterEach(() => {
  vi.restoreAllMocks()
})

const settle = () => new Promise<void>((r) => setTimeout(r, 0))

function open(name: string, visible: boolean) {
  const host = document.createElement('div')
  document.body.appendChild(host)
  registry.setVisible(name, visible)
  return registry.attach(name, host)
}

test('a shown terminal subscribes and shows the scrollback, then live output; a hidden one gets nothing', async () => {
  open('a', true)
  open('b', false)
  await settle()
  expect(bridge.calls('terminal.subscribe')).toEqual([{ name: 'a' }])
  expect(terms[0].writes).toEqual(['scrollback of a\r\n'])
  registry.output('a', 'live ')
  registry.output('a', 'bytes')
  registry.output('b', 'not shown')
  await settle()
  // Joined into one write, without waiting for an animation frame.
  expect(terms[0].writes).toEqual(['scrollback of a\r\n', 'live bytes'])
  expect(terms[1].writes).toEqual([])
})

test('switching tabs unsubscribes the old terminal and replays the new one', async () => {
  open('a', true)
  open('b', false)
  await settle()
  registry.setVisible('a', false)
  registry.setVisible('b', true)
  await settle()
  expect(bridge.calls('terminal.unsubscribe')).toEqual([{ name: 'a' }])
  expect(bridge.calls('terminal.subscribe')).toEqual([{ name: 'a' }, { name: 'b' }])
  registry.output('a', 'while hidden')
  await settle()
  expect(terms[0].writes).not.toContain('while hidden')
  // Back to a: its xterm is reset and the scrollback replayed (it holds what was missed).
  registry.setVisible('b', false)
  registry.setVisible('a', true)
  await settle()
  expect(terms[0].resets).toBe(2)
  expect(terms[0].writes).toEqual(['scrollback of a\r\n'])
})

test('a hidden page unsubscribes and subscribes again when it comes back', async () => {
  open('a', true)
  await settle()
  const hidden = vi.spyOn(document, 'hidden', 'get').mockReturnValue(true)
  document.dispatchEvent(new Event('visibilitychange'))
  await settle()
  expect(bridge.calls('terminal.unsubscribe')).toEqual([{ name: 'a' }])
  hidden.mockReturnValue(false)
  document.dispatchEvent(new Event('visibilitychange'))
  await settle()
  expect(bridge.calls('terminal.subscribe')).toEqual([{ name: 'a' }, { name: 'a' }])
})

test('acks what xterm parsed, every OUTPUT_ACK_CHARS', async () => {
  open('a', true)
  await settle()
  const chunk = 'x'.repeat(OUTPUT_ACK_CHARS / 2 + 1)
  registry.output('a', chunk)
  await settle()
  expect(bridge.calls('terminal.ack')).toEqual([])
  registry.output('a', chunk)
  await settle()
  expect(bridge.calls('terminal.ack')).toEqual([{ name: 'a', chars: chunk.length * 2 }])
})

test('after a reconnect the shown terminal subscribes again (the new connection has no subscriptions)', async () => {
  open('a', true)
  open('b', false)
  await settle()
  registry.resync()
  await settle()
  expect(bridge.calls('terminal.subscribe')).toEqual([{ name: 'a' }, { name: 'a' }])
})
