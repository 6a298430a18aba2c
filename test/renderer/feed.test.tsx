// @vitest-environment happy-dom
import { act } from 'react'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { MessageFeed } from '../../renderer/src/components/feed/MessageFeed'
import { connectStores } from '../../renderer/src/stores'
import type { FeedMessage } from '../../shared/ipc'
import { byTestId, click, FakeBridge, FakeTerminals, message, render, resetStores, type Rendered } from './fakes'

let view: Rendered | null = null
let disconnect: () => void = () => {}
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
  disconnect()
})

function setup() {
  const bridge = new FakeBridge()
  bridge.connected = false // no initial fetch: the test drives everything with events
  disconnect = connectStores(bridge, new FakeTerminals())
  view = render(<MessageFeed />, bridge)
  const emit = (m: FeedMessage) => act(() => bridge.emit('message.changed', m))
  return { bridge, emit, container: view.container }
}

function items(container: HTMLElement) {
  return [...container.querySelectorAll<HTMLElement>('[data-testid="feed-item"]')]
}

test('a message shows from → to, its text and follows its state changes', () => {
  const { emit, container } = setup()
  const steps: FeedMessage['steps'] = [{ state: 'received', at: 1_000 }]
  emit(message('m1', { from: 'lead', to: 'worker', text: 'run the tests', state: 'received', steps }))

  let [item] = items(container)
  expect(item.dataset.messageId).toBe('m1')
  expect(item.dataset.state).toBe('received')
  expect(item.textContent).toContain('lead → worker')
  expect(item.textContent).toContain('run the tests')

  emit(message('m1', { from: 'lead', to: 'worker', text: 'run the tests', state: 'typed', steps: [...steps, { state: 'typed', at: 1_200 }] }))
  ;[item] = items(container)
  expect(items(container)).toHaveLength(1)
  expect(item.dataset.state).toBe('typed')
})

test('clicking a message expands its step timeline with each step', async () => {
  const { emit, container } = setup()
  emit(
    message('m1', {
      state: 'acked',
      steps: [
        { state: 'received', at: 1_000 },
        { state: 'queued', at: 1_010, detail: 'user is typing' },
        { state: 'typed', at: 1_500 },
        { state: 'acked', at: 1_520 },
      ],
    }),
  )
  const [item] = items(container)
  expect(item.querySelector('[data-testid="feed-timeline"]')).toBeNull()

  await click(item.querySelector<HTMLElement>('.feed-head')!)

  const steps = [...byTestId(container, 'feed-timeline').querySelectorAll<HTMLElement>('[data-step-state]')]
  expect(steps.map((s) => s.dataset.stepState)).toEqual(['received', 'queued', 'typed', 'acked'])
  expect(steps[1].textContent).toContain('user is typing')
  expect(steps[2].textContent).toContain('+490 ms')
  for (const s of steps) expect(s.querySelector('time')?.textContent).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/)
})

test('newest first, and filters by agent and by state', async () => {
  const { emit, container } = setup()
  emit(message('a', { from: 'me', to: 'alpha', state: 'acked', steps: [{ state: 'acked', at: 1 }] }))
  emit(message('b', { from: 'me', to: 'beta', state: 'failed', steps: [{ state: 'failed', at: 2 }], error: 'agent exited' }))
  emit(message('c', { from: 'beta', to: 'alpha', state: 'queued', steps: [{ state: 'queued', at: 3 }] }))
  expect(items(container).map((i) => i.dataset.messageId)).toEqual(['c', 'b', 'a'])
  expect(items(container)[1].textContent).toContain('agent exited')

  const agentFilter = byTestId<HTMLSelectElement>(container, 'feed-filter-agent')
  await act(async () => {
    agentFilter.value = 'beta'
    agentFilter.dispatchEvent(new Event('change', { bubbles: true }))
  })
  expect(items(container).map((i) => i.dataset.messageId)).toEqual(['c', 'b'])

  const stateFilter = byTestId<HTMLSelectElement>(container, 'feed-filter-state')
  await act(async () => {
    stateFilter.value = 'failed'
    stateFilter.dispatchEvent(new Event('change', { bubbles: true }))
  })
  expect(items(container).map((i) => i.dataset.messageId)).toEqual(['b'])
})
