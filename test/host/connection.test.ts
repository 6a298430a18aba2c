/** One UI connection: subscriptions, batching and coalescing, flow control accounting. */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { HostConnection, MAX_OUTPUT_PER_EVENT, OUTPUT_FLUSH_MS, OutputFlow, STATE_FLUSH_MS, type EventBatch } from '../../electron/host/connection'

afterEach(() => {
  vi.useRealTimers()
})

function setup(opts: { high?: number; low?: number } = {}) {
  const paused = new Set<string>()
  const calls: string[] = []
  const flow = new OutputFlow(
    {
      pause: (n) => {
        calls.push(`pause ${n}`)
        paused.add(n)
      },
      resume: (n) => {
        calls.push(`resume ${n}`)
        paused.delete(n)
      },
      paused: (n) => paused.has(n),
    },
    opts.high ?? 100,
    opts.low ?? 10,
  )
  const batches: EventBatch[] = []
  const invoke = vi.fn(async (_command: string, _request: unknown) => ({ ok: true as const, result: { ok: true as const } }))
  const conn = new HostConnection({ invoke, scrollback: (name) => `scrollback of ${name}`, flow, send: (b) => batches.push(b) })
  const output = () => batches.flat().filter((e) => e.event === 'terminal.output').map((e) => e.payload as { name: string; data: string })
  return { conn, flow, batches, paused, calls, invoke, output }
}

describe('HostConnection', () => {
  it('sends terminal output only for subscribed agents; subscribing answers with the scrollback', async () => {
    const t = setup()
    t.conn.push('terminal.output', { name: 'a', data: 'unseen' })
    t.conn.flush()
    expect(t.output()).toEqual([])
    expect(await t.conn.invoke('terminal.subscribe', { name: 'a' })).toEqual({ ok: true, result: { data: 'scrollback of a' } })
    t.conn.push('terminal.output', { name: 'a', data: 'seen' })
    t.conn.push('terminal.output', { name: 'b', data: 'other agent' })
    t.conn.flush()
    expect(t.output()).toEqual([{ name: 'a', data: 'seen' }])
    await t.conn.invoke('terminal.unsubscribe', { name: 'a' })
    t.conn.push('terminal.output', { name: 'a', data: 'gone' })
    t.conn.flush()
    expect(t.output()).toEqual([{ name: 'a', data: 'seen' }])
    // Everything else goes to the host as is.
    await t.conn.invoke('node.status', {})
    expect(t.invoke).toHaveBeenCalledWith('node.status', {})
  })

  it('rejects a malformed connection command with a readable error', async () => {
    const t = setup()
    expect(await t.conn.invoke('terminal.ack', { name: 'a', chars: -1 })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(await t.conn.invoke('terminal.subscribe', { name: '' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
  })

  it("joins an agent's chunks, each event at most MAX_OUTPUT_PER_EVENT", async () => {
    const t = setup({ high: Number.MAX_SAFE_INTEGER })
    await t.conn.invoke('terminal.subscribe', { name: 'a' })
    const chunk = 'x'.repeat(64 * 1024)
    for (let i = 0; i < 10; i++) t.conn.push('terminal.output', { name: 'a', data: chunk })
    t.conn.push('terminal.output', { name: 'a', data: 'tail' })
    t.conn.flush()
    const events = t.output()
    expect(events.map((e) => e.data).join('')).toBe(chunk.repeat(10) + 'tail')
    expect(Math.max(...events.map((e) => e.data.length))).toBeLessThanOrEqual(MAX_OUTPUT_PER_EVENT)
    expect(events.length).toBe(Math.ceil((10 * chunk.length) / (3 * chunk.length)))
  })

  it('keeps only the latest state of a message, an agent, the node; never drops the placeholder it replaces', () => {
    const t = setup()
    t.conn.push('message.changed', { id: 'm1', state: 'sent', replaces: 'local_1' })
    t.conn.push('agent.changed', { name: 'a', pendingInjections: 1 })
    t.conn.push('message.changed', { id: 'm2', state: 'sent' })
    t.conn.push('agent.changed', { name: 'a', pendingInjections: 0 })
    t.conn.push('message.changed', { id: 'm1', state: 'acked' })
    t.conn.push('node.status', { state: 'connecting' })
    t.conn.push('node.status', { state: 'connected' })
    t.conn.push('agent.removed', { name: 'b' })
    t.conn.flush()
    expect(t.batches).toEqual([
      [
        { event: 'message.changed', payload: { id: 'm2', state: 'sent' } },
        { event: 'agent.changed', payload: { name: 'a', pendingInjections: 0 } },
        { event: 'message.changed', payload: { id: 'm1', state: 'acked', replaces: 'local_1' } },
        { event: 'node.status', payload: { state: 'connected' } },
        { event: 'agent.removed', payload: { name: 'b' } },
      ],
    ])
  })

  it('flushes on the leading edge, then output once a frame and other events every STATE_FLUSH_MS', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] })
    const t = setup({ high: Number.MAX_SAFE_INTEGER })
    await t.conn.invoke('terminal.subscribe', { name: 'a' })
    t.conn.push('terminal.output', { name: 'a', data: '1' })
    t.conn.push('agent.removed', { name: 'x' })
    vi.advanceTimersToNextTimer() // the end of this turn
    expect(t.batches).toHaveLength(1)
    // Within the frame: held.
    t.conn.push('terminal.output', { name: 'a', data: '2' })
    t.conn.push('agent.removed', { name: 'y' })
    vi.advanceTimersByTime(OUTPUT_FLUSH_MS - 1)
    expect(t.batches).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(t.batches[1]).toEqual([{ event: 'terminal.output', payload: { name: 'a', data: '2' } }])
    vi.advanceTimersByTime(STATE_FLUSH_MS - OUTPUT_FLUSH_MS)
    expect(t.batches[2]).toEqual([{ event: 'agent.removed', payload: { name: 'y' } }])
    expect(t.batches).toHaveLength(3)
  })

  it('counts sent output per agent and pauses past the high watermark until acks bring it under the low one', async () => {
    const t = setup({ high: 100, low: 10 })
    await t.conn.invoke('terminal.subscribe', { name: 'a' })
    t.conn.push('terminal.output', { name: 'a', data: 'x'.repeat(60) })
    t.conn.flush()
    expect(t.paused.has('a')).toBe(false)
    t.conn.push('terminal.output', { name: 'a', data: 'x'.repeat(60) })
    t.conn.flush()
    expect(t.flow.pending(t.conn, 'a')).toBe(120)
    expect(t.calls).toEqual(['pause a'])
    await t.conn.invoke('terminal.ack', { name: 'a', chars: 100 })
    expect(t.calls).toEqual(['pause a']) // 20 left: still above the low watermark
    await t.conn.invoke('terminal.ack', { name: 'a', chars: 15 })
    expect(t.calls).toEqual(['pause a', 'resume a'])
  })

  it('the most-behind viewer decides; a viewer that leaves stops holding the agent', async () => {
    const t = setup({ high: 100, low: 10 })
    const other = new HostConnection({ invoke: t.invoke, scrollback: () => '', flow: t.flow, send: () => undefined })
    await t.conn.invoke('terminal.subscribe', { name: 'a' })
    await other.invoke('terminal.subscribe', { name: 'a' })
    for (const c of [t.conn, other]) {
      c.push('terminal.output', { name: 'a', data: 'x'.repeat(150) })
      c.flush()
    }
    expect(t.paused.has('a')).toBe(true)
    await t.conn.invoke('terminal.ack', { name: 'a', chars: 150 })
    expect(t.paused.has('a')).toBe(true) // `other` is still behind
    other.close()
    expect(t.paused.has('a')).toBe(false)
    // Resubscribing starts a fresh account (the scrollback is not counted).
    t.conn.push('terminal.output', { name: 'a', data: 'x'.repeat(150) })
    t.conn.flush()
    expect(t.paused.has('a')).toBe(true)
    await t.conn.invoke('terminal.subscribe', { name: 'a' })
    expect(t.paused.has('a')).toBe(false)
    expect(t.flow.pending(t.conn, 'a')).toBe(0)
  })
})
