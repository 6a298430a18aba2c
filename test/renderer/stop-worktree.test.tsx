// @vitest-environment happy-dom
import { act } from 'react'
import { afterEach, beforeEach, expect, test } from 'vitest'
import type { AgentInfo, WorktreeStatusInfo } from '../../shared/ipc'
import { App } from '../../renderer/src/components/app/App'
import { useAgentsStore, useUiStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, flushAsync, pressKey, queryTestId, render, resetStores, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
})

const inWorktree = (name: string, patch: Partial<AgentInfo> = {}): AgentInfo =>
  agent(name, { cwd: `/data/worktrees/${name}`, worktree: { path: `/data/worktrees/${name}`, branch: `relay/${name}`, baseCommit: 'a1b2c3d4', repoRoot: '/src/app' }, ...patch })

const clean: WorktreeStatusInfo = { clean: true, staged: 0, unstaged: 0, untracked: 0, files: [], commits: 2 }
const dirty: WorktreeStatusInfo = { clean: false, staged: 1, unstaged: 1, untracked: 1, files: ['src/a.ts', 'src/b.ts', 'notes.txt'], commits: 0 }

function bridgeWith(status: WorktreeStatusInfo) {
  return new FakeBridge().on('worktree.status', () => status).on('agents.stop', () => ({ ok: true as const }))
}

const el = (id: string) => byTestId(view!.container, id)
const stopButton = () => byTestId<HTMLButtonElement>(view!.container, 'stop-confirm')

async function openStop(name: string) {
  await click(el(`agent-stop-${name}`))
  await flushAsync()
}

test('an agent without a worktree stops at once, as before', async () => {
  useAgentsStore.getState().replaceAll([agent('plain')])
  const bridge = bridgeWith(clean)
  view = render(<App />, bridge)
  await openStop('plain')
  expect(queryTestId(view.container, 'stop-dialog')).toBeNull()
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'plain' }])
  expect(bridge.calls('worktree.status')).toEqual([])
})

test('clean worktree: shows it is clean, Keep by default, remove-if-clean is sent when chosen', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w')])
  const bridge = bridgeWith(clean)
  view = render(<App />, bridge)
  await openStop('w')
  expect(bridge.calls('worktree.status')).toEqual([{ name: 'w' }])
  expect(el('stop-worktree-status').dataset.state).toBe('clean')
  expect(el('stop-worktree-info').textContent).toContain('relay/w')
  expect(byTestId<HTMLInputElement>(view.container, 'stop-worktree-keep').checked).toBe(true)
  await click(el('stop-worktree-remove-if-clean'))
  // Clean: removing asks no extra confirmation.
  expect(queryTestId(view.container, 'stop-worktree-confirm-discard')).toBeNull()
  await click(stopButton())
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'w', worktree: 'remove-if-clean' }])
  expect(useUiStore.getState().dialog).toBeNull()
})

test('Keep sends keep', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w')])
  const bridge = bridgeWith(dirty)
  view = render(<App />, bridge)
  await openStop('w')
  await click(stopButton())
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'w', worktree: 'keep' }])
})

test('dirty worktree: lists the files; Remove needs an explicit confirmation naming the count, then sends discardChanges', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w')])
  const bridge = bridgeWith(dirty)
  view = render(<App />, bridge)
  await openStop('w')
  const status = el('stop-worktree-status')
  expect(status.dataset.state).toBe('dirty')
  expect(status.textContent).toContain('3 files')
  expect(el('stop-worktree-files').textContent).toContain('src/b.ts')
  // Remove-if-clean would be refused: not offered.
  expect(byTestId<HTMLInputElement>(view.container, 'stop-worktree-remove-if-clean').disabled).toBe(true)

  await click(el('stop-worktree-remove'))
  const confirm = byTestId<HTMLInputElement>(view.container, 'stop-worktree-confirm-discard')
  expect(confirm.parentElement?.textContent).toContain('3 files')
  expect(stopButton().disabled).toBe(true)
  // Submitting the form (Enter) does not get around the confirmation either.
  await act(async () => {
    el('stop-dialog').querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }))
  })
  expect(bridge.calls('agents.stop')).toEqual([])

  await click(confirm)
  expect(stopButton().disabled).toBe(false)
  expect(stopButton().textContent).toContain('3 files')
  await click(stopButton())
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'w', worktree: 'remove', discardChanges: true }])
})

test('work that appeared after the dialog looked: the refusal is shown and the status fetched again', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w')])
  let status = clean
  const bridge = new FakeBridge().on('worktree.status', () => status).fail('agents.stop', 'worktree_dirty', 'the worktree has uncommitted work: new.txt')
  view = render(<App />, bridge)
  await openStop('w')
  await click(el('stop-worktree-remove'))
  status = { ...dirty, files: ['new.txt'], staged: 0, unstaged: 0, untracked: 1 }
  await click(stopButton())
  await flushAsync()
  expect(el('stop-error').textContent).toContain('new.txt')
  expect(bridge.calls('worktree.status')).toHaveLength(2)
  expect(el('stop-worktree-status').dataset.state).toBe('dirty')
  // Now it takes the confirmation.
  expect(byTestId<HTMLInputElement>(view.container, 'stop-worktree-confirm-discard').checked).toBe(false)
  expect(stopButton().disabled).toBe(true)
  expect(bridge.calls('agents.stop')).toEqual([{ name: 'w', worktree: 'remove' }])
})

test('Escape closes the stop dialog without stopping', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w')])
  const bridge = bridgeWith(clean)
  view = render(<App />, bridge)
  await openStop('w')
  await pressKey(el('stop-dialog'), 'Escape')
  expect(queryTestId(view.container, 'stop-dialog')).toBeNull()
  expect(bridge.calls('agents.stop')).toEqual([])
})
