// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { connectStores, FEED_CAP, flushEvents, useAgentsStore, useFeedStore, useNodeStore, useSettingsStore, useToastStore, useUiStore } from '../../renderer/src/stores'
import { mergeMessages, emptyFeed } from '../../renderer/src/stores/feed-order'
import type { NodeStatus } from '../../shared/ipc'
import { agent, appInfo, FakeBridge, FakeTerminals, message, resetStores, settingsView } from './fakes'

const status: NodeStatus = {
  state: 'connected',
  nodeName: 'laptop',
  nodeId: 'node_1',
  engineUrl: 'http://127.0.0.1:7777',
  embeddedEngine: true,
  agentsOnline: 1,
}

let disconnect: () => void = () => {}
beforeEach(() => resetStores())
afterEach(() => {
  disconnect()
  vi.restoreAllMocks()
})

function setup() {
  const bridge = new FakeBridge()
    .on('node.status', () => status)
    .on('agents.list', () => [agent('alpha')])
    .on('messages.list', () => [message('m1')])
    .on('settings.get', () => settingsView())
    .on('app.info', () => appInfo())
  const terminals = new FakeTerminals()
  disconnect = connectStores(bridge, terminals)
  return { bridge, terminals }
}

describe('connectStores', () => {
  test('fetches node status, agents and messages when the link is up', async () => {
    setup()
    await vi.waitFor(() => expect(useFeedStore.getState().order).toEqual(['m1']))
    expect(useNodeStore.getState().status).toEqual(status)
    expect(Object.keys(useAgentsStore.getState().byName)).toEqual(['alpha'])
    expect(useNodeStore.getState().hostLink).toBe('connected')
  })

  test('applies every kind of event', async () => {
    const { bridge, terminals } = setup()
    await vi.waitFor(() => expect(useAgentsStore.getState().byName.alpha).toBeDefined())

    bridge.emit('node.status', { ...status, state: 'reconnecting', reason: 'engine unreachable' })
    expect(useNodeStore.getState().status?.state).toBe('reconnecting')
    expect(useNodeStore.getState().status?.reason).toBe('engine unreachable')

    bridge.emit('agent.changed', agent('alpha', { status: 'exited', exitCode: 3 }))
    bridge.emit('agent.changed', agent('beta'))
    expect(useAgentsStore.getState().byName.alpha.exitCode).toBe(3)
    expect(useAgentsStore.getState().byName.beta.status).toBe('running')

    useUiStore.getState().select('beta')
    bridge.emit('agent.removed', { name: 'beta' })
    expect(useAgentsStore.getState().byName.beta).toBeUndefined()
    expect(useUiStore.getState().selected).toBeNull()
    expect(useUiStore.getState().opened).toEqual({})
    expect(terminals.removedNames).toEqual(['beta'])

    bridge.emit('terminal.output', { name: 'alpha', data: 'hello\r\n' })
    expect(terminals.written).toEqual([['alpha', 'hello\r\n']])

    bridge.emit('message.changed', message('m1', { state: 'acked', steps: [{ state: 'received', at: 10_000 }, { state: 'acked', at: 10_050 }] }))
    expect(useFeedStore.getState().byId.m1.state).toBe('acked')
  })

  test('settings, notifications and tray requests reach the UI', async () => {
    const { bridge } = setup()
    await vi.waitFor(() => expect(useSettingsStore.getState().app?.mode).toBe('headless'))
    bridge.emit('settings.changed', settingsView({ nodeName: 'box', restartRequired: true }))
    expect(useSettingsStore.getState().settings?.nodeName).toBe('box')
    bridge.emit('notification', { id: 'n1', kind: 'agentIdle', title: 'alpha is waiting for input', body: '$', agent: 'alpha', at: 1, merged: 0 })
    expect(useToastStore.getState().toasts.map((t) => t.id)).toEqual(['n1'])
    bridge.emit('ui.openSpawn', {})
    expect(useUiStore.getState().dialog).toBe('spawn')
    bridge.emit('ui.focusAgent', { name: 'alpha' })
    expect(useUiStore.getState()).toMatchObject({ selected: 'alpha', dialog: null })
    bridge.emit('ui.openSettings', {})
    expect(useUiStore.getState().dialog).toBe('settings')
  })

  test('with a frame scheduler, events apply once per frame and the feed at most every 150 ms', async () => {
    const frames: Array<() => void> = []
    const bridge = new FakeBridge().on('node.status', () => status).on('agents.list', () => []).on('messages.list', () => []).on('settings.get', () => settingsView()).on('app.info', () => appInfo())
    const now = vi.spyOn(performance, 'now')
    now.mockReturnValue(1000)
    disconnect = connectStores(bridge, new FakeTerminals(), { toasts: true, schedule: (f) => frames.push(f) })
    await vi.waitFor(() => expect(useNodeStore.getState().status).toEqual(status))
    bridge.emit('agent.changed', agent('a1'))
    bridge.emit('message.changed', message('m1'))
    bridge.emit('message.changed', message('m2'))
    expect(useAgentsStore.getState().byName.a1).toBeUndefined()
    expect(frames).toHaveLength(1)
    frames.shift()!()
    expect(useAgentsStore.getState().byName.a1).toBeDefined()
    expect(useFeedStore.getState().order).toEqual(['m1', 'm2'])
    bridge.emit('message.changed', message('m3'))
    now.mockReturnValue(1100)
    frames.shift()!()
    expect(useFeedStore.getState().order).toEqual(['m1', 'm2']) // held: too soon
    now.mockReturnValue(1200)
    frames.shift()!() // the batcher came back by itself
    expect(useFeedStore.getState().order).toEqual(['m1', 'm2', 'm3'])
    now.mockRestore()
  })

  test("events held for the next frame land before a command's result, not after it (a worktree agent's spawn)", async () => {
    const frames: Array<() => void> = []
    const bridge = new FakeBridge().on('node.status', () => status).on('agents.list', () => []).on('messages.list', () => []).on('settings.get', () => settingsView()).on('app.info', () => appInfo())
    disconnect = connectStores(bridge, new FakeTerminals(), { toasts: true, schedule: (f) => frames.push(f) })
    await vi.waitFor(() => expect(useNodeStore.getState().status).toEqual(status))
    // Sent while it spawned: the host knew nothing of its worktree yet.
    bridge.emit('agent.changed', agent('wt', { status: 'starting' }))
    bridge.emit('agent.changed', agent('wt', { status: 'running' }))
    const worktree = { path: '/data/worktrees/repo/wt', branch: 'relay/wt', baseCommit: 'a'.repeat(40), repoRoot: '/repo' }
    // What SpawnDialog does with the spawn's result.
    flushEvents()
    useAgentsStore.getState().upsert(agent('wt', { status: 'running', worktree }))
    for (const f of frames.splice(0)) f()
    expect(useAgentsStore.getState().byName.wt.worktree).toEqual(worktree)
    disconnect()
    disconnect = () => {}
    expect(() => flushEvents()).not.toThrow()
  })

  test('drops invalid event payloads with a warning and keeps the stores as they were', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const { bridge, terminals } = setup()
    await vi.waitFor(() => expect(useAgentsStore.getState().byName.alpha).toBeDefined())
    const before = { agents: useAgentsStore.getState().byName, feed: useFeedStore.getState().byId, node: useNodeStore.getState().status }

    bridge.emit('agent.changed', { name: 'alpha', status: 'dancing' })
    bridge.emit('message.changed', { id: 'm9', text: 'no steps or state' })
    bridge.emit('node.status', { state: 'connected' })
    bridge.emit('terminal.output', { name: 'alpha', data: 42 })
    bridge.emit('agent.removed', null)

    expect(useAgentsStore.getState().byName).toBe(before.agents)
    expect(useFeedStore.getState().byId).toBe(before.feed)
    expect(useNodeStore.getState().status).toBe(before.node)
    expect(terminals.written).toEqual([])
    expect(terminals.removedNames).toEqual([])
    expect(warn).toHaveBeenCalledTimes(5)
    expect(String(warn.mock.calls[0][0])).toContain('dropped invalid agent.changed')
  })

  test('shows the host link going down and re-fetches state and scrollback when it comes back', async () => {
    const { bridge, terminals } = setup()
    await vi.waitFor(() => expect(useFeedStore.getState().order).toEqual(['m1']))

    bridge.setConnected(false)
    expect(useNodeStore.getState().hostLink).toBe('disconnected')

    bridge.on('agents.list', () => [agent('alpha'), agent('gamma', { startedAt: 2_000 })])
    bridge.setConnected(true)
    expect(useNodeStore.getState().hostLink).toBe('connected')
    expect(terminals.resyncs).toBe(1)
    await vi.waitFor(() => expect(Object.keys(useAgentsStore.getState().byName)).toEqual(['alpha', 'gamma']))
    expect(bridge.calls('agents.list')).toHaveLength(2)
  })
})

describe('feed ordering', () => {
  test('orders by first step time, not arrival, and keeps the order on later updates', () => {
    let feed = mergeMessages(emptyFeed, [message('late', { steps: [{ state: 'sent', at: 300 }] })], 10, 0)
    feed = mergeMessages(feed, [message('early', { steps: [{ state: 'sent', at: 100 }] })], 10, 0)
    feed = mergeMessages(feed, [message('mid', { steps: [{ state: 'sent', at: 200 }] })], 10, 0)
    expect(feed.order).toEqual(['early', 'mid', 'late'])
    feed = mergeMessages(feed, [message('early', { state: 'acked', steps: [{ state: 'sent', at: 100 }, { state: 'acked', at: 900 }] })], 10, 0)
    expect(feed.order).toEqual(['early', 'mid', 'late'])
    expect(feed.byId.early.state).toBe('acked')
  })

  test('ignores an older copy of a message (fewer steps)', () => {
    const newer = message('m', { state: 'typed', steps: [{ state: 'sent', at: 1 }, { state: 'typed', at: 2 }] })
    const older = message('m', { state: 'sent', steps: [{ state: 'sent', at: 1 }] })
    const feed = mergeMessages(mergeMessages(emptyFeed, [newer], 10, 0), [older], 10, 0)
    expect(feed.byId.m.state).toBe('typed')
  })

  test('a failure without steps still shows, keeping the timeline seen so far', () => {
    const sending = message('local_1', { direction: 'out', state: 'sending', steps: [{ state: 'sending', at: 5 }] })
    const failed = message('local_1', { direction: 'out', state: 'failed', steps: [], error: 'engine unreachable' })
    const feed = mergeMessages(mergeMessages(emptyFeed, [sending], 10, 0), [failed], 10, 0)
    expect(feed.byId.local_1.state).toBe('failed')
    expect(feed.byId.local_1.error).toBe('engine unreachable')
    expect(feed.byId.local_1.steps).toEqual(sending.steps)
  })

  test('the engine-id copy of a sent message replaces the placeholder it names', () => {
    const base = { from: 'me', to: 'worker', text: 'hi', direction: 'out' as const }
    const placeholder = message('local_1', { ...base, state: 'sending', steps: [{ state: 'sending', at: 5 }] })
    // Same route, text and time: only `replaces` tells them apart.
    const other = message('local_2', { ...base, state: 'sending', steps: [{ state: 'sending', at: 5 }] })
    const accepted = message('msg_9', { ...base, state: 'sent', replaces: 'local_1', steps: [{ state: 'sending', at: 5 }, { state: 'sent', at: 9 }] })
    const feed = mergeMessages(mergeMessages(emptyFeed, [placeholder, other], 10, 0), [accepted], 10, 0)
    expect(feed.order).toEqual(['local_2', 'msg_9'])
    expect(feed.byId.local_1).toBeUndefined()
    expect(feed.sortKey.has('local_1')).toBe(false)
  })

  test('the placeholder is also retired when the engine id was seen first (recipient on this node)', () => {
    const base = { from: 'me', to: 'worker', text: 'hi' }
    const placeholder = message('local_1', { ...base, direction: 'out', state: 'sending', steps: [{ state: 'sending', at: 5 }] })
    const delivered = message('msg_9', { ...base, direction: 'in', state: 'received', steps: [{ state: 'received', at: 7 }] })
    const renamed = message('msg_9', {
      ...base,
      replaces: 'local_1',
      direction: 'out',
      state: 'sent',
      steps: [{ state: 'sending', at: 5 }, { state: 'received', at: 7 }, { state: 'sent', at: 8 }],
    })
    let feed = mergeMessages(emptyFeed, [placeholder], 10, 0)
    feed = mergeMessages(feed, [delivered], 10, 0)
    expect(feed.order).toEqual(['local_1', 'msg_9'])
    feed = mergeMessages(feed, [renamed], 10, 0)
    expect(feed.order).toEqual(['msg_9'])
  })

  test('caps the feed by evicting the oldest', () => {
    const many = Array.from({ length: FEED_CAP + 5 }, (_, i) => message(`m${i}`, { steps: [{ state: 'sent', at: i }] }))
    useFeedStore.getState().upsert(many)
    const { order, byId } = useFeedStore.getState()
    expect(order).toHaveLength(FEED_CAP)
    expect(order[0]).toBe('m5')
    expect(byId.m0).toBeUndefined()
    expect(Object.keys(byId)).toHaveLength(FEED_CAP)
  })
})
