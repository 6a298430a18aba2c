// @vitest-environment happy-dom
import { act } from 'react'
import { afterEach, beforeEach, expect, test, vi } from 'vitest'
import type { AgentDiffInfo, AgentInfo, DiffFileInfo, DiffLineInfo } from '../../shared/ipc'
import { App } from '../../renderer/src/components/app/App'
import { DiffView } from '../../renderer/src/components/diff/DiffView'
import { ROW_HEIGHT } from '../../renderer/src/components/diff/rows'
import { connectStores, useAgentsStore, useFeedStore, useUiStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, FakeTerminals, flushAsync, message, pressKey, queryTestId, render, resetStores, typeInto, type Rendered } from './fakes'

let view: Rendered | null = null
let disconnect: (() => void) | null = null
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
  disconnect?.()
  disconnect = null
})

const inWorktree = (name: string, patch: Partial<AgentInfo> = {}): AgentInfo =>
  agent(name, { worktree: { path: `/data/worktrees/${name}`, branch: `relay/${name}`, baseCommit: 'a1b2c3d4e5', repoRoot: '/src/app' }, ...patch })

const ctx = (o: number, n: number, text = `line ${n}`): DiffLineInfo => ({ kind: 'context', text, oldLine: o, newLine: n })
const add = (n: number, text = `added ${n}`): DiffLineInfo => ({ kind: 'add', text, oldLine: null, newLine: n })
const del = (o: number, text = `removed ${o}`): DiffLineInfo => ({ kind: 'del', text, oldLine: o, newLine: null })

function file(path: string, lines: DiffLineInfo[], patch: Partial<DiffFileInfo> = {}): DiffFileInfo {
  return {
    path,
    status: 'modified',
    untracked: false,
    binary: false,
    additions: lines.filter((l) => l.kind === 'add').length,
    deletions: lines.filter((l) => l.kind === 'del').length,
    hunks: lines.length ? [{ header: '@@ -1,4 +1,5 @@', oldStart: 1, newStart: 1, lines }] : [],
    truncated: false,
    ...patch,
  }
}

function diffOf(files: DiffFileInfo[], name = 'w'): AgentDiffInfo {
  return {
    name,
    baseCommit: 'a1b2c3d4e5',
    branch: `relay/${name}`,
    commits: 1,
    files,
    additions: files.reduce((n, f) => n + f.additions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    truncated: files.some((f) => f.truncated),
  }
}

const sample = () =>
  diffOf([
    file('src/app.ts', [ctx(1, 1), del(2), add(2), add(3), ctx(3, 4), ctx(4, 5, 'last')]),
    file('notes.txt', [add(1, 'hello')], { status: 'added', untracked: true }),
    file('logo.png', [], { binary: true, status: 'added' }),
    file('src/new-name.ts', [], { status: 'renamed', oldPath: 'src/old-name.ts' }),
    file('big.log', [{ ...add(1, 'x'.repeat(40)), cut: true }], { truncated: true }),
  ])

const gutter = (path: string, side: 'old' | 'new', line: number) => {
  const el = view!.container.querySelector<HTMLButtonElement>(`[data-testid="diff-line"][data-path="${path}"][data-side="${side}"][data-line="${line}"]`)
  if (!el) throw new Error(`no ${side} line ${line} in ${path}`)
  return el
}

async function shiftClick(el: HTMLElement) {
  await act(async () => {
    el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true, shiftKey: true }))
  })
}

async function renderDiff(bridge: FakeBridge, name = 'w') {
  view = render(<DiffView name={name} />, bridge)
  await flushAsync()
  await flushAsync()
}

test('the file list shows status and +/- counts; lines show old/new numbers and kinds; markers for binary, truncated, cut', async () => {
  const bridge = new FakeBridge().on('diff.get', () => sample())
  await renderDiff(bridge)
  expect(bridge.calls('diff.get')).toEqual([{ name: 'w' }])
  const files = [...view!.container.querySelectorAll<HTMLElement>('[data-testid="diff-file"]')]
  expect(files.map((f) => [f.dataset.path, f.dataset.status])).toEqual([
    ['src/app.ts', 'modified'],
    ['notes.txt', 'untracked'],
    ['logo.png', 'added'],
    ['src/new-name.ts', 'renamed'],
    ['big.log', 'modified'],
  ])
  expect(files[0].textContent).toContain('+2')
  expect(files[0].textContent).toContain('−1')
  expect(files[2].textContent).toContain('binary')
  expect(byTestId(view!.container, 'diff-summary').textContent).toMatch(/relay\/w.*a1b2c3d4.*5 files/)

  // A deleted line has only a base number, an added one only a new number, context both.
  expect(gutter('src/app.ts', 'old', 2).dataset.kind).toBe('del')
  expect(gutter('src/app.ts', 'new', 2).dataset.kind).toBe('add')
  expect(gutter('src/app.ts', 'old', 3).dataset.kind).toBe('context')
  expect(gutter('src/app.ts', 'new', 4).dataset.kind).toBe('context')
  const rows = [...view!.container.querySelectorAll<HTMLElement>('[data-testid="diff-row"]')].slice(0, 6)
  expect(rows.map((r) => r.dataset.kind)).toEqual(['context', 'del', 'add', 'add', 'context', 'context'])
  expect(rows[1].className).toContain('diff-del')
  expect(rows[2].className).toContain('diff-add')
  expect(rows[1].textContent).toContain('removed 2')

  expect(view!.container.querySelector('[data-testid="diff-binary"]')?.getAttribute('data-path')).toBe('logo.png')
  expect(view!.container.querySelector('[data-testid="diff-truncated"][data-path="big.log"]')).not.toBeNull()
  expect(byTestId(view!.container, 'diff-cut')).toBeTruthy()
  expect(view!.container.textContent).toContain('src/old-name.ts → src/new-name.ts')
})

test('a 50,000-line diff draws only a window of rows, and scrolling moves the window', async () => {
  const lines = Array.from({ length: 50_000 }, (_, i) => add(i + 1))
  const bridge = new FakeBridge().on('diff.get', () => diffOf([file('huge.txt', lines, { status: 'added' })]))
  const started = performance.now()
  await renderDiff(bridge)
  const drawn = () => view!.container.querySelectorAll('[data-testid="diff-row"]')
  expect(drawn().length).toBeGreaterThan(10)
  expect(drawn().length).toBeLessThan(150)
  expect(gutter('huge.txt', 'new', 1)).toBeTruthy()

  const body = byTestId(view!.container, 'diff-body')
  const canvas = body.firstElementChild as HTMLElement
  expect(parseFloat(canvas.style.height)).toBeGreaterThan(50_000 * ROW_HEIGHT.line)
  await act(async () => {
    body.scrollTop = 30_000 * ROW_HEIGHT.line
    body.dispatchEvent(new Event('scroll'))
  })
  expect(drawn().length).toBeLessThan(150)
  expect(view!.container.querySelector('[data-line="1"]')).toBeNull()
  expect(gutter('huge.txt', 'new', 30_000)).toBeTruthy()
  // Generous bound: happy-dom is slow, but drawing every row would take far longer.
  expect(performance.now() - started).toBeLessThan(5_000)
})

test('click and shift-click select lines of one side; the comment goes out as review.comment and shows in the feed', async () => {
  const sent = message('m-review', { from: 'human', to: 'w', direction: 'out', state: 'sent', text: 'review' })
  const bridge = new FakeBridge().on('diff.get', () => sample()).on('review.comment', () => sent)
  await renderDiff(bridge)
  expect(queryTestId(view!.container, 'review-comment-input')).toBeNull()

  await click(gutter('src/app.ts', 'new', 2))
  await shiftClick(gutter('src/app.ts', 'new', 4))
  expect(gutter('src/app.ts', 'new', 3).getAttribute('aria-pressed')).toBe('true')
  expect(gutter('src/app.ts', 'new', 5).getAttribute('aria-pressed')).toBe('false')
  const input = byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input')
  expect(document.activeElement).toBe(input)
  expect(byTestId(view!.container, 'review-comment').textContent).toContain('src/app.ts, new lines 2–4')

  // Empty comments are not sent.
  await click(byTestId(view!.container, 'review-comment-send'))
  expect(bridge.calls('review.comment')).toEqual([])
  expect(byTestId(view!.container, 'review-comment-error').textContent).toMatch(/empty/)

  typeInto(input, '  rename this, please  ')
  await click(byTestId(view!.container, 'review-comment-send'))
  expect(bridge.calls('review.comment')).toEqual([{ name: 'w', path: 'src/app.ts', side: 'new', startLine: 2, endLine: 4, comment: 'rename this, please' }])
  expect(queryTestId(view!.container, 'review-comment')).toBeNull()
  expect(useFeedStore.getState().byId['m-review']).toEqual(sent)
})

test('a deleted line is commented on the old side; Ctrl+Enter sends; a shift-click in another file starts afresh', async () => {
  const bridge = new FakeBridge().on('diff.get', () => sample()).on('review.comment', () => message('m1'))
  await renderDiff(bridge)
  await click(gutter('src/app.ts', 'old', 2))
  await shiftClick(gutter('notes.txt', 'new', 1))
  expect(byTestId(view!.container, 'review-comment').dataset.path).toBe('notes.txt')
  await click(gutter('src/app.ts', 'old', 2))
  // Shift-click on an added line (no base number) while the selection is on the base side: a new selection.
  await shiftClick(gutter('src/app.ts', 'old', 1))
  const input = byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input')
  typeInto(input, 'why remove this?')
  await pressKey(input, 'Enter', { ctrlKey: true })
  expect(bridge.calls('review.comment')).toEqual([{ name: 'w', path: 'src/app.ts', side: 'old', startLine: 1, endLine: 2, comment: 'why remove this?' }])
})

test('a failed send keeps the box open with the error and the text; Escape closes it and keeps the draft', async () => {
  const bridge = new FakeBridge().on('diff.get', () => sample()).fail('review.comment', 'not_running', 'w is not running')
  await renderDiff(bridge)
  await click(gutter('src/app.ts', 'new', 5))
  typeInto(byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input'), 'typo here')
  await pressKey(byTestId(view!.container, 'review-comment-input'), 'Enter')
  expect(byTestId(view!.container, 'review-comment-error').textContent).toBe('w is not running')
  expect(byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input').value).toBe('typo here')

  await pressKey(byTestId(view!.container, 'review-comment-input'), 'Escape')
  expect(queryTestId(view!.container, 'review-comment')).toBeNull()
  await click(gutter('src/app.ts', 'new', 5))
  expect(byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input').value).toBe('typo here')
})

test('diff.changed for the agent on screen refetches (coalesced); for another agent it does not; selection and draft survive', async () => {
  let version = 0
  let release: (() => void) | null = null
  const bridge = new FakeBridge().on('diff.get', () => {
    version += 1
    const d = sample()
    if (version > 1) d.files[0] = file('src/app.ts', [ctx(1, 1), del(2), add(2), add(3), add(4), ctx(3, 5), ctx(4, 6)])
    if (version !== 2) return d
    // The second fetch stays in flight until the test releases it.
    return new Promise<AgentDiffInfo>((resolve) => (release = () => resolve(d))) as never
  })
  // Only the event routing is under test here, not the initial fetch of the whole state.
  bridge.connected = false
  disconnect = connectStores(bridge, new FakeTerminals(), { toasts: false })
  await renderDiff(bridge)
  expect(bridge.calls('diff.get')).toHaveLength(1)
  await click(gutter('src/app.ts', 'new', 2))
  typeInto(byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input'), 'keep me')

  await act(async () => bridge.emit('diff.changed', { name: 'other' }))
  expect(bridge.calls('diff.get')).toHaveLength(1)

  await act(async () => bridge.emit('diff.changed', { name: 'w' }))
  expect(bridge.calls('diff.get')).toHaveLength(2)
  // More changes while that fetch is in flight make exactly one more fetch after it.
  await act(async () => {
    bridge.emit('diff.changed', { name: 'w' })
    bridge.emit('diff.changed', { name: 'w' })
    bridge.emit('diff.changed', { name: 'w' })
  })
  expect(bridge.calls('diff.get')).toHaveLength(2)
  await act(async () => release?.())
  await flushAsync()
  await flushAsync()
  expect(bridge.calls('diff.get')).toHaveLength(3)
  expect(gutter('src/app.ts', 'new', 4).dataset.kind).toBe('add')
  expect(byTestId(view!.container, 'review-comment').dataset.start).toBe('2')
  expect(byTestId<HTMLTextAreaElement>(view!.container, 'review-comment-input').value).toBe('keep me')
})

test('the Changes tab shows only for an agent in its own worktree, beside its terminal', async () => {
  useAgentsStore.getState().replaceAll([inWorktree('w'), agent('plain', { startedAt: 2_000 })])
  const bridge = new FakeBridge().on('diff.get', () => sample())
  view = render(<App />, bridge)
  act(() => useUiStore.getState().select('plain'))
  expect(queryTestId(view.container, 'agent-tab-changes')).toBeNull()
  act(() => useUiStore.getState().select('w'))
  await click(byTestId(view.container, 'agent-tab-changes'))
  await flushAsync()
  expect(byTestId(view.container, 'diff-view').dataset.agent).toBe('w')
  expect(byTestId(view.container, 'terminal-w').hidden).toBe(true)
  expect(view.container.querySelectorAll('[data-testid="diff-file"]')).toHaveLength(5)
  await click(byTestId(view.container, 'agent-tab-terminal'))
  expect(queryTestId(view.container, 'diff-view')).toBeNull()
  expect(byTestId(view.container, 'terminal-w').hidden).toBe(false)
})

test('a failed diff.get is shown, with a way to try again', async () => {
  let fail = true
  const bridge = new FakeBridge().on('diff.get', () => {
    if (fail) throw Object.assign(new Error('not_a_worktree: w has no worktree'), { code: 'not_a_worktree' })
    return sample()
  })
  await renderDiff(bridge)
  expect(byTestId(view!.container, 'diff-error').textContent).toContain('w has no worktree')
  fail = false
  await click(byTestId(view!.container, 'diff-refresh'))
  await flushAsync()
  expect(queryTestId(view!.container, 'diff-error')).toBeNull()
  expect(view!.container.querySelectorAll('[data-testid="diff-file"]')).toHaveLength(5)
})

test('when the host link comes back, the diff on screen is fetched again', async () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
  const bridge = new FakeBridge().on('diff.get', () => sample())
  bridge.connected = false
  disconnect = connectStores(bridge, new FakeTerminals(), { toasts: false })
  await renderDiff(bridge)
  expect(bridge.calls('diff.get')).toHaveLength(1)
  await act(async () => bridge.setConnected(true))
  await flushAsync()
  expect(bridge.calls('diff.get')).toHaveLength(2)
  warn.mockRestore()
})
