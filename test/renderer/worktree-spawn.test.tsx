// @vitest-environment happy-dom
import { act } from 'react'
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import type { FolderInfo } from '../../shared/ipc'
import { fieldOf, INSPECT_DELAY_MS, SpawnDialog } from '../../renderer/src/components/agents/SpawnDialog'
import { useUiStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, flushAsync, queryTestId, render, resetStores, typeInto, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => {
  resetStores()
  useUiStore.getState().openDialog('spawn')
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
})
afterEach(() => {
  view?.unmount()
  view = null
  vi.useRealTimers()
})

const repo = (patch: Partial<Extract<FolderInfo, { isRepo: true }>> = {}): FolderInfo => ({
  isRepo: true,
  root: '/src/app',
  branch: 'main',
  head: 'a1b2c3d4e5f6',
  dirty: false,
  changes: 0,
  suggestedBranch: 'relay/rev',
  ...patch,
})

function bridgeFor(info: FolderInfo | ((path: string) => FolderInfo)) {
  return new FakeBridge()
    .on('agents.detect', () => ({ clis: [] }))
    .on('worktree.inspect', (req) => (typeof info === 'function' ? info(req.path) : info))
    .on('agents.spawn', (req) => agent(req.name, { command: req.command }))
}

const input = (id: string) => byTestId<HTMLInputElement>(view!.container, id)

/** Let the debounce run out and the inspect answer land. */
async function settle() {
  await act(async () => {
    vi.advanceTimersByTime(INSPECT_DELAY_MS + 1)
  })
  await flushAsync()
  await flushAsync()
}

async function fillAndInspect(fields: Record<string, string>) {
  for (const [key, value] of Object.entries(fields)) typeInto(input(`spawn-${key}`), value)
  await settle()
}

test('a folder that is not a repository: no worktree option, the reason shown, the request has no worktree', async () => {
  const bridge = bridgeFor({ isRepo: false, reason: '/tmp/x is not inside a git repository' })
  view = render(<SpawnDialog />, bridge)
  await fillAndInspect({ command: 'bash', name: 'rev', cwd: '/tmp/x' })
  expect(bridge.calls('worktree.inspect')).toEqual([{ path: '/tmp/x', agentName: 'rev' }])
  expect(queryTestId(view.container, 'spawn-worktree-checkbox')).toBeNull()
  expect(byTestId(view.container, 'spawn-worktree-reason').textContent).toContain('/tmp/x is not inside a git repository')
  await click(byTestId(view.container, 'spawn-submit'))
  expect(bridge.calls('agents.spawn')).toEqual([{ name: 'rev', command: 'bash', args: [], channels: [], restart: true, cwd: '/tmp/x' }])
})

test('a repository without commits is not offered a worktree, and says why', async () => {
  view = render(<SpawnDialog />, bridgeFor(repo({ head: null, branch: 'main' })))
  await fillAndInspect({ command: 'bash', name: 'rev', cwd: '/src/app' })
  expect(queryTestId(view.container, 'spawn-worktree-checkbox')).toBeNull()
  expect(byTestId(view.container, 'spawn-worktree-reason').textContent).toMatch(/no commits/)
})

test('no folder, no question asked; typing is debounced into one inspect', async () => {
  const bridge = bridgeFor(repo())
  view = render(<SpawnDialog />, bridge)
  typeInto(input('spawn-command'), 'bash')
  await settle()
  expect(bridge.calls('worktree.inspect')).toEqual([])
  expect(queryTestId(view.container, 'spawn-worktree')).toBeNull()
  for (const partial of ['/s', '/sr', '/src', '/src/app']) typeInto(input('spawn-cwd'), partial)
  await settle()
  expect(bridge.calls('worktree.inspect')).toEqual([{ path: '/src/app', agentName: 'bash' }])
})

test('a repository with commits: checkbox, branch prefilled and editable, dirty note, request shape', async () => {
  const bridge = bridgeFor(repo({ dirty: true, changes: 3 }))
  view = render(<SpawnDialog />, bridge)
  await fillAndInspect({ command: 'claude', name: 'rev', cwd: '/src/app/web' })
  const box = byTestId<HTMLInputElement>(view.container, 'spawn-worktree-checkbox')
  expect(box.checked).toBe(false)
  expect(byTestId(view.container, 'spawn-worktree-dirty').textContent).toMatch(/3 uncommitted changes.*not in the agent's worktree/)
  // Unchecked: the branch field is not shown and nothing about a worktree is sent.
  expect(queryTestId(view.container, 'spawn-worktree-branch')).toBeNull()
  await click(box)
  expect(input('spawn-worktree-branch').value).toBe('relay/rev')
  typeInto(input('spawn-worktree-branch'), 'review/rev-1')
  await click(byTestId(view.container, 'spawn-submit'))
  expect(bridge.calls('agents.spawn')).toEqual([
    { name: 'rev', command: 'claude', args: [], channels: [], restart: true, cwd: '/src/app/web', worktree: { branch: 'review/rev-1' } },
  ])
  expect(useUiStore.getState().dialog).toBeNull()
})

test('the suggested branch follows the name until the branch is edited', async () => {
  const bridge = bridgeFor(repo()).on('worktree.inspect', (req) => repo({ suggestedBranch: `relay/${req.agentName}` }))
  view = render(<SpawnDialog />, bridge)
  await fillAndInspect({ command: 'bash', name: 'one', cwd: '/src/app' })
  await click(byTestId(view.container, 'spawn-worktree-checkbox'))
  expect(input('spawn-worktree-branch').value).toBe('relay/one')
  await fillAndInspect({ name: 'two' })
  expect(input('spawn-worktree-branch').value).toBe('relay/two')
  typeInto(input('spawn-worktree-branch'), 'mine')
  await fillAndInspect({ name: 'three' })
  expect(input('spawn-worktree-branch').value).toBe('mine')
})

test('worktree errors from the host are shown in the dialog and nothing typed is lost', async () => {
  const cases: Array<[string, string, string]> = [
    ['branch_exists', 'a branch named relay/rev already exists', 'spawn-error-branch'],
    ['worktree_add_failed', 'git worktree add failed: fatal: could not create directory', 'spawn-error-worktree'],
    ['not_a_repo', '/src/app is not inside a git repository', 'spawn-error-worktree'],
  ]
  for (const [code, message, where] of cases) {
    const bridge = bridgeFor(repo()).fail('agents.spawn', code, message)
    view = render(<SpawnDialog />, bridge)
    await fillAndInspect({ command: 'claude', name: 'rev', cwd: '/src/app', args: '--model opus' })
    await click(byTestId(view.container, 'spawn-worktree-checkbox'))
    await click(byTestId(view.container, 'spawn-submit'))
    expect(byTestId(view.container, where).textContent).toBe(message)
    expect(useUiStore.getState().dialog).toBe('spawn')
    expect(input('spawn-name').value).toBe('rev')
    expect(input('spawn-args').value).toBe('--model opus')
    expect(input('spawn-worktree-branch').value).toBe('relay/rev')
    expect(byTestId<HTMLInputElement>(view.container, 'spawn-worktree-checkbox').checked).toBe(true)
    view.unmount()
    view = null
    useUiStore.getState().openDialog('spawn')
  }
})

test('while the answer about a newly typed folder is pending, a checked worktree holds the submit', async () => {
  const bridge = bridgeFor(repo())
  view = render(<SpawnDialog />, bridge)
  await fillAndInspect({ command: 'bash', name: 'rev', cwd: '/src/app' })
  await click(byTestId(view.container, 'spawn-worktree-checkbox'))
  typeInto(input('spawn-cwd'), '/src/other')
  expect(byTestId<HTMLButtonElement>(view.container, 'spawn-submit').disabled).toBe(true)
  await settle()
  expect(byTestId<HTMLButtonElement>(view.container, 'spawn-submit').disabled).toBe(false)
})

test('fieldOf maps worktree codes and contract paths', () => {
  expect(fieldOf('branch_exists', 'x')).toBe('branch')
  expect(fieldOf('no_commits', 'x')).toBe('worktree')
  expect(fieldOf('invalid_request', 'worktree.branch: branch name is empty')).toBe('branch')
  expect(fieldOf('invalid_request', 'worktree.root: too short')).toBe('worktree')
})
