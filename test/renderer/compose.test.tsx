// @vitest-environment happy-dom
import { afterEach, beforeEach, expect, test } from 'vitest'
import { ComposeBox } from '../../renderer/src/components/compose/ComposeBox'
import { useAgentsStore, useFeedStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, message, pressKey, queryTestId, render, resetStores, typeInto, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
})

function sendingBridge() {
  return new FakeBridge().on('messages.send', (req) =>
    message('msg_1', { from: 'me', to: req.to, text: req.text, direction: 'out', state: 'sent', steps: [{ state: 'sent', at: 5 }] }),
  )
}

test('Enter sends, clears the text, keeps the recipient and shows the message in the feed', async () => {
  const bridge = sendingBridge()
  view = render(<ComposeBox />, bridge)
  typeInto(byTestId<HTMLInputElement>(view.container, 'compose-to'), 'worker')
  const text = byTestId<HTMLTextAreaElement>(view.container, 'compose-text')
  typeInto(text, 'please review PR 12')

  await pressKey(text, 'Enter')

  expect(bridge.calls('messages.send')).toEqual([{ to: 'worker', text: 'please review PR 12' }])
  expect(text.value).toBe('')
  expect(byTestId<HTMLInputElement>(view.container, 'compose-to').value).toBe('worker')
  expect(useFeedStore.getState().byId.msg_1.text).toBe('please review PR 12')
  expect(queryTestId(view.container, 'compose-error')).toBeNull()
})

test('Shift+Enter does not send', async () => {
  const bridge = sendingBridge()
  view = render(<ComposeBox />, bridge)
  typeInto(byTestId<HTMLInputElement>(view.container, 'compose-to'), 'worker')
  const text = byTestId<HTMLTextAreaElement>(view.container, 'compose-text')
  typeInto(text, 'line one')
  await pressKey(text, 'Enter', { shiftKey: true })
  expect(bridge.invocations).toEqual([])
})

test('the send button sends too', async () => {
  const bridge = sendingBridge()
  view = render(<ComposeBox />, bridge)
  typeInto(byTestId<HTMLInputElement>(view.container, 'compose-to'), 'worker')
  typeInto(byTestId<HTMLTextAreaElement>(view.container, 'compose-text'), 'hi')
  await click(byTestId(view.container, 'compose-send'))
  expect(bridge.calls('messages.send')).toEqual([{ to: 'worker', text: 'hi' }])
})

test('a failed send shows the error inline and keeps the text', async () => {
  const bridge = new FakeBridge().fail('messages.send', 'unknown_recipient', 'no agent named "nobody" in this workspace')
  view = render(<ComposeBox />, bridge)
  typeInto(byTestId<HTMLInputElement>(view.container, 'compose-to'), 'nobody')
  const text = byTestId<HTMLTextAreaElement>(view.container, 'compose-text')
  typeInto(text, 'are you there?')

  await pressKey(text, 'Enter')

  expect(byTestId(view.container, 'compose-error').textContent).toBe('no agent named "nobody" in this workspace')
  expect(text.value).toBe('are you there?')
  expect(useFeedStore.getState().order).toEqual([])
})

test('an empty recipient is reported without a round trip', async () => {
  const bridge = sendingBridge()
  view = render(<ComposeBox />, bridge)
  const text = byTestId<HTMLTextAreaElement>(view.container, 'compose-text')
  typeInto(text, 'hello')
  await pressKey(text, 'Enter')
  expect(byTestId(view.container, 'compose-error').textContent).toContain('recipient is required')
  expect(bridge.invocations).toEqual([])
  expect(text.value).toBe('hello')
})

test('the recipient field suggests this node\'s agents', () => {
  useAgentsStore.getState().replaceAll([agent('alpha'), agent('beta', { startedAt: 2_000 })])
  view = render(<ComposeBox />, new FakeBridge())
  const to = byTestId<HTMLInputElement>(view.container, 'compose-to')
  expect(to.tagName).toBe('INPUT')
  const list = view.container.querySelector(`datalist#${to.getAttribute('list')}`)
  expect([...(list?.querySelectorAll('option') ?? [])].map((o) => o.getAttribute('value'))).toEqual(['alpha', 'beta'])
})
