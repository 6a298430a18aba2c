// @vitest-environment happy-dom
import { afterEach, beforeEach, expect, test } from 'vitest'
import { fieldOf, SpawnDialog, splitChannels, suggestName } from '../../renderer/src/components/agents/SpawnDialog'
import { parseArgs } from '../../renderer/src/components/agents/parse-args'
import { TerminalPanel } from '../../renderer/src/components/terminal/TerminalPanel'
import { useAgentsStore, useSettingsStore, useUiStore } from '../../renderer/src/stores'
import { agent, appInfo, byTestId, click, FakeBridge, FakeTerminals, flushAsync, queryTestId, render, resetStores, typeInto, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => {
  resetStores()
  useUiStore.getState().openDialog('spawn')
})
afterEach(() => {
  view?.unmount()
  view = null
})

function fill(container: HTMLElement, fields: Partial<Record<'name' | 'command' | 'args' | 'cwd' | 'channels', string>>) {
  for (const [key, value] of Object.entries(fields)) typeInto(byTestId<HTMLInputElement>(container, `spawn-${key}`), value)
}

const detecting = (clis: string[] = ['claude', 'codex']) =>
  new FakeBridge().on('agents.detect', () => ({ clis: clis.map((name) => ({ name, path: `/usr/bin/${name}` })) }))

test('offers the detected CLIs; picking one fills the command and a free name', async () => {
  useAgentsStore.getState().replaceAll([agent('claude')])
  view = render(<SpawnDialog />, detecting())
  await flushAsync()
  expect(byTestId(view.container, 'spawn-clis').textContent).toContain('codex')
  await click(byTestId(view.container, 'spawn-cli-claude'))
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-command').value).toBe('claude')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-name').value).toBe('claude-2')
})

test('says so when no agent CLI is on PATH', async () => {
  view = render(<SpawnDialog />, detecting([]))
  await flushAsync()
  expect(byTestId(view.container, 'spawn-clis').textContent).toMatch(/No agent CLI .* found on PATH/)
})

test('host errors land on their field: name taken, command not found, folder missing', async () => {
  const cases: Array<[string, string, string]> = [
    ['name_taken', 'an agent named "alpha" is already running', 'name'],
    ['command_not_found', 'command not found: clod', 'command'],
    ['cwd_missing', 'working directory does not exist: /nope', 'cwd'],
  ]
  for (const [code, message, field] of cases) {
    const bridge = detecting().fail('agents.spawn', code, message)
    view = render(<SpawnDialog />, bridge)
    fill(view.container, { name: 'alpha', command: 'clod', cwd: '/nope' })
    await click(byTestId(view.container, 'spawn-submit'))
    expect(byTestId(view.container, `spawn-error-${field}`).textContent).toBe(message)
    expect(byTestId(view.container, `spawn-${field}`).className).toContain('invalid')
    // Nothing typed is lost.
    expect(byTestId<HTMLInputElement>(view.container, 'spawn-name').value).toBe('alpha')
    view.unmount()
    view = null
  }
})

test('checks the request with the contract before sending', async () => {
  const bridge = detecting()
  view = render(<SpawnDialog />, bridge)
  fill(view.container, { name: '-bad', command: 'claude' })
  await click(byTestId(view.container, 'spawn-submit'))
  expect(byTestId(view.container, 'spawn-error-name').textContent).toMatch(/must start with a letter or digit/)
  expect(bridge.calls('agents.spawn')).toEqual([])
})

test('spawns with args, folder and channels, closes and opens the new terminal', async () => {
  const bridge = detecting().on('agents.spawn', (req) => agent(req.name, { command: req.command, args: req.args ?? [], channels: req.channels }))
  const terminals = new FakeTerminals()
  view = render(
    <>
      <SpawnDialog />
      <TerminalPanel />
    </>,
    bridge,
    terminals,
  )
  fill(view.container, { command: 'claude', name: 'rev', args: '--model opus "fix it"', cwd: '/src', channels: '#general, reviews' })
  await click(byTestId(view.container, 'spawn-submit'))
  expect(bridge.calls('agents.spawn')).toEqual([
    { name: 'rev', command: 'claude', args: ['--model', 'opus', 'fix it'], cwd: '/src', channels: ['general', 'reviews'], restart: true },
  ])
  expect(useUiStore.getState()).toMatchObject({ selected: 'rev', dialog: null })
  expect(terminals.attached).toEqual(['rev'])
})

test('a Browse… button only where the host has a folder picker', async () => {
  useSettingsStore.getState().setApp(appInfo({ canPickDirectory: true }))
  const bridge = detecting().on('dialog.pickDirectory', () => ({ path: '/picked' }))
  view = render(<SpawnDialog />, bridge)
  await click(byTestId(view.container, 'spawn-browse'))
  await flushAsync()
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-cwd').value).toBe('/picked')
  view.unmount()
  useSettingsStore.getState().setApp(appInfo({ canPickDirectory: false }))
  view = render(<SpawnDialog />, detecting())
  expect(queryTestId(view.container, 'spawn-browse')).toBeNull()
})

test('helpers: field of an error, channels, names, args', () => {
  expect(fieldOf('invalid_request', 'channels.1: channel names use letters')).toBe('channels')
  expect(fieldOf('not_connected', 'not connected')).toBeNull()
  expect(splitChannels(' #a, b  c,,')).toEqual(['a', 'b', 'c'])
  expect(suggestName('/usr/local/bin/codex', (n) => n === 'codex')).toBe('codex-2')
  expect(parseArgs(`-m "a b" 'c d' e`)).toEqual(['-m', 'a b', 'c d', 'e'])
})
