// @vitest-environment happy-dom
import { expect, test } from 'vitest'
import { OutputBuffer } from '../../renderer/src/terminal/output-buffer'

function harness(maxPending?: number) {
  const writes: Array<[string, string]> = []
  const frames: Array<() => void> = []
  const buffer = new OutputBuffer((name, data) => writes.push([name, data]), (cb) => frames.push(cb), maxPending)
  const frame = () => frames.splice(0).forEach((cb) => cb())
  return { buffer, writes, frames, frame }
}

test('coalesces each agent\'s chunks into one write per frame, with one frame scheduled', () => {
  const { buffer, writes, frames, frame } = harness()
  buffer.push('a', 'one ')
  buffer.push('b', 'x')
  buffer.push('a', 'two')
  expect(writes).toEqual([])
  expect(frames).toHaveLength(1)
  frame()
  expect(writes).toEqual([
    ['a', 'one two'],
    ['b', 'x'],
  ])
  buffer.push('a', 'three')
  expect(frames).toHaveLength(1)
  frame()
  expect(writes[2]).toEqual(['a', 'three'])
})

test('flushes an agent at once when its pending output passes the bound', () => {
  const { buffer, writes } = harness(10)
  buffer.push('a', '12345')
  buffer.push('a', '67890')
  expect(writes).toEqual([['a', '1234567890']])
  expect(buffer.pendingSize('a')).toBe(0)
})

test('drop forgets staged output', () => {
  const { buffer, writes, frame } = harness()
  buffer.push('a', 'stale')
  buffer.drop('a')
  frame()
  expect(writes).toEqual([])
})
