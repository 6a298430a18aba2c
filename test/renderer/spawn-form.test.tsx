// @vitest-environment happy-dom
import { afterEach, beforeEach, expect, test } from 'vitest'
import { SpawnForm } from '../../renderer/src/components/agents/SpawnForm'
import { TerminalPanel } from '../../renderer/src/components/terminal/TerminalPanel'
import { parseArgs } from '../../renderer/src/components/agents/parse-args'
import { useAgentsStore, useUiStore } from '../../renderer/src/stores'
import { agent, byTestId, click, FakeBridge, FakeTerminals, queryTestId, render, resetStores, typeInto, type Rendered } from './fakes'

let view: Rendered | null = null
beforeEach(() => resetStores())
afterEach(() => {
  view?.unmount()
  view = null
})

function fill(container: HTMLElement, fields: Partial<Record<'name' | 'command' | 'args' | 'cwd', string>>) {
  for (const [key, value] of Object.entries(fields)) typeInto(byTestId<HTMLInputElement>(container, `spawn-${key}`), value)
}

test('shows the contract error from the host inline and keeps what was typed', async () => {
  const bridge = new FakeBridge().fail('agents.spawn', 'name_taken', 'an agent named "alpha" already exists')
  view = render(<SpawnForm />, bridge)
  fill(view.container, { name: 'alpha', command: 'claude', args: '--model opus', cwd: '/src' })

  await click(byTestId(view.container, 'spawn-submit'))

  expect(byTestId(view.container, 'spawn-error').textContent).toBe('an agent named "alpha" already exists')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-name').value).toBe('alpha')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-command').value).toBe('claude')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-args').value).toBe('--model opus')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-cwd').value).toBe('/src')
  expect(bridge.calls('agents.spawn')).toEqual([{ name: 'alpha', command: 'claude', args: ['--model', 'opus'], cwd: '/src' }])
})

test('checks the request against the contract before asking the host', async () => {
  const bridge = new FakeBridge()
  view = render(<SpawnForm />, bridge)
  fill(view.container, { name: '-bad name', command: 'bash' })

  await click(byTestId(view.container, 'spawn-submit'))

  expect(byTestId(view.container, 'spawn-error').textContent).toContain('name may use letters, digits')
  expect(bridge.invocations).toEqual([])

  fill(view.container, { name: 'ok', command: '  ' })
  await click(byTestId(view.container, 'spawn-submit'))
  expect(byTestId(view.container, 'spawn-error').textContent).toContain('command is required')
})

test('a spawned agent is added and its terminal tab is selected and opened', async () => {
  const bridge = new FakeBridge().on('agents.spawn', (req) =>
    agent(req.name, { command: req.command, args: req.args ?? [], cwd: req.cwd ?? '/home' }),
  )
  const terminals = new FakeTerminals()
  view = render(
    <>
      <SpawnForm />
      <TerminalPanel />
    </>,
    bridge,
    terminals,
  )
  fill(view.container, { name: 'worker', command: 'claude', args: `-p "fix the bug" --verbose` })

  await click(byTestId(view.container, 'spawn-submit'))

  expect(queryTestId(view.container, 'spawn-error')).toBeNull()
  expect(bridge.calls('agents.spawn')).toEqual([{ name: 'worker', command: 'claude', args: ['-p', 'fix the bug', '--verbose'] }])
  expect(useAgentsStore.getState().byName.worker.command).toBe('claude')
  expect(useUiStore.getState().selected).toBe('worker')
  expect(byTestId(view.container, 'terminal-worker').hidden).toBe(false)
  expect(terminals.attached).toEqual(['worker'])
  // Name and args are cleared for the next one; command is kept.
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-name').value).toBe('')
  expect(byTestId<HTMLInputElement>(view.container, 'spawn-command').value).toBe('claude')
})

test('parseArgs splits on whitespace and honours quotes', () => {
  expect(parseArgs('')).toEqual([])
  expect(parseArgs('  a   b ')).toEqual(['a', 'b'])
  expect(parseArgs(`-m "two words" 'single q' ""`)).toEqual(['-m', 'two words', 'single q', ''])
})
