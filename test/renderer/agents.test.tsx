// @vitest-environment happy-dom
import { act } from 'react'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { AgentList } from '../../renderer/src/components/agents/AgentList'
import { NodeStatusBar } from '../../renderer/src/components/status/NodeStatusBar'
import { HostLinkBanner } from '../../renderer/src/components/status/HostLinkBanner'
import { useAgentsStore, useNodeStore, useUiStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, queryTestId, render, resetStores, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
})

test('agent rows show status, exit code, error and pending injections', () => {
  useAgentsStore.getState().replaceAll([
    agent('run', { pendingInjections: 2 }),
    agent('done', { status: 'exited', exitCode: 3, startedAt: 2_000 }),
    agent('broke', { status: 'failed', error: 'command not found: clod', startedAt: 3_000 }),
  ])
  view = render(<AgentList />, new FakeBridge())
  const row = (name: string) => byTestId(view!.container, `agent-row-${name}`)
  expect(row('run').dataset.status).toBe('running')
  expect(row('run').textContent).toContain('2 pending')
  expect(row('done').dataset.status).toBe('exited')
  expect(row('done').textContent).toContain('code 3')
  expect(row('broke').textContent).toContain('failed: command not found: clod')
  expect(byTestId<HTMLButtonElement>(view.container, 'agent-stop-run').disabled).toBe(false)
  // A stopped agent offers Start (same command, folder, channels) and Remove instead of Stop.
  expect(queryTestId(view.container, 'agent-stop-done')).toBeNull()
  expect(byTestId<HTMLButtonElement>(view.container, 'agent-start-done').disabled).toBe(false)
  expect(byTestId<HTMLButtonElement>(view.container, 'agent-remove-done').disabled).toBe(false)
})

test('agent rows show what the agent is doing, from its screen: working, waiting, needs approval with the question, dialog, starting', () => {
  useAgentsStore.getState().replaceAll([
    agent('w', { command: 'claude', activity: 'working' }),
    agent('i', { command: 'codex', activity: 'idle' }),
    agent('p', { command: 'claude', activity: 'needs_approval', activityDetail: 'Do you want to proceed? agent-relay — Send Dm' }),
    agent('d', { command: 'codex', activity: 'dialog', activityDetail: 'Trust this folder?' }),
    agent('s', { command: 'gemini', activity: 'starting' }),
  ])
  view = render(<AgentList />, new FakeBridge())
  const row = (name: string) => byTestId(view!.container, `agent-row-${name}`)
  expect(row('w').textContent).toContain('working')
  expect(row('i').textContent).toContain('waiting for input')
  expect(row('p').textContent).toContain('needs approval: Do you want to proceed? agent-relay — Send Dm')
  expect(row('d').textContent).toContain('dialog: Trust this folder?')
  expect(row('s').textContent).toContain('starting')
  expect(row('p').dataset.activity).toBe('needs_approval')
  // A blocked agent's dot asks for attention even before the host flags it.
  expect(row('p').querySelector('.dot-attention')).not.toBeNull()
  expect(row('d').querySelector('.dot-attention')).not.toBeNull()
  expect(row('w').querySelector('.dot-attention')).toBeNull()
})

test('Stop invokes agents.stop and shows a failure inline; open selects the terminal', async () => {
  useAgentsStore.getState().replaceAll([agent('run')])
  const bridge = new FakeBridge().fail('agents.stop', 'not_running', 'run is not running')
  view = render(<AgentList />, bridge)
  await click(byTestId(view.container, 'agent-stop-run'))
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'run' }])
  expect(byTestId(view.container, 'agent-row-run').textContent).toContain('run is not running')

  await click(byTestId(view.container, 'agent-open-run'))
  expect(useUiStore.getState().selected).toBe('run')
  expect(useUiStore.getState().opened).toEqual({ run: true })
})

test('the status bar shows node state, identity and reconnects on request', async () => {
  const bridge = new FakeBridge().on('node.reconnect', () => ({ ok: true as const }))
  view = render(<NodeStatusBar />, bridge)
  expect(byTestId(view.container, 'node-status').dataset.state).toBe('starting')

  act(() =>
    useNodeStore.getState().setStatus({
      state: 'reconnecting',
      reason: 'engine did not answer the heartbeat',
      nodeName: 'laptop',
      nodeId: 'node_abc',
      engineUrl: 'https://relay.example',
      embeddedEngine: false,
      workspaceId: 'ws_1',
      agentsOnline: 4,
    }),
  )
  const bar = byTestId(view.container, 'node-status')
  expect(bar.dataset.state).toBe('reconnecting')
  for (const text of ['engine did not answer the heartbeat', 'laptop', 'node_abc', 'https://relay.example', 'remote', 'ws_1', '4']) {
    expect(bar.textContent).toContain(text)
  }
  await click(byTestId(view.container, 'node-reconnect'))
  expect(bridge.calls('node.reconnect')).toEqual([{}])
})

test('"disconnected from host" shows only while the host link is down', () => {
  view = render(<HostLinkBanner />, new FakeBridge())
  expect(queryTestId(view.container, 'host-link')).toBeNull()
  act(() => useNodeStore.getState().setHostLink('disconnected'))
  expect(byTestId(view.container, 'host-link').textContent).toContain('disconnected from host')
  act(() => useNodeStore.getState().setHostLink('connected'))
  expect(queryTestId(view.container, 'host-link')).toBeNull()
})
