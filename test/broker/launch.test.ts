/** Broker.spawn applies agent-tools' launchConfigFor: the relay MCP server per CLI, and the relay env. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, expect, it } from 'vitest'
import { tempDir } from '../support/wait'
import { startFakeEngine } from './fake-engine'
import { makeNode } from './harness'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

it('a claude agent starts with --mcp-config for the relay MCP server, its own token in env, user args after', async () => {
  const dir = tempDir('fake-claude')
  writeFileSync(join(dir, 'claude'), '#!/bin/sh\necho "ARGS[$*]"\necho "ENV[$RELAY_AGENT_NAME $RELAY_AGENT_TOKEN]"\nexec cat\n', { mode: 0o755 })
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  const n = makeNode(fe, { env: { PATH: `${dir}:/usr/bin:/bin` } }, cleanups)
  await n.broker.start()
  await n.connected()
  await n.broker.spawn({ name: 'cl', command: 'claude', args: ['--user-flag'], cwd: '/tmp' })
  await n.waitOutput('cl', 'ENV[')
  const out = n.output('cl')
  expect(out).toMatch(/ARGS\[--mcp-config \{"mcpServers":\{"agent-relay":.*\} --allowedTools mcp__agent-relay --user-flag\]/)
  expect(out).toMatch(/ENV\[cl at_live_\S+\]/)
  expect(n.broker.listAgents()[0]?.args).toEqual(['--user-flag'])
})

it('the skip-all permission setting is read at each spawn: the next claude gets --dangerously-skip-permissions', async () => {
  const dir = tempDir('fake-claude')
  writeFileSync(join(dir, 'claude'), '#!/bin/sh\necho "ARGS[$*]"\nexec cat\n', { mode: 0o755 })
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  let permissions: 'relay-tools' | 'skip-all' = 'relay-tools'
  const n = makeNode(fe, { env: { PATH: `${dir}:/usr/bin:/bin` }, agentPermissions: () => permissions }, cleanups)
  await n.broker.start()
  await n.connected()
  await n.broker.spawn({ name: 'asks', command: 'claude', cwd: '/tmp' })
  await n.waitOutput('asks', 'ARGS[')
  expect(n.output('asks')).toContain('--allowedTools mcp__agent-relay')
  expect(n.output('asks')).not.toContain('--dangerously-skip-permissions')
  permissions = 'skip-all'
  await n.broker.spawn({ name: 'yolo', command: 'claude', cwd: '/tmp' })
  await n.waitOutput('yolo', 'ARGS[')
  expect(n.output('yolo')).toContain('--dangerously-skip-permissions')
  expect(n.output('yolo')).not.toContain('--allowedTools')
})

it('an agent CLI does not inherit CI markers (Gemini CLI under CI=true runs headless and exits 42); other programs do', async () => {
  const dir = tempDir('fake-gemini')
  writeFileSync(join(dir, 'gemini'), '#!/bin/sh\necho "CI[${CI-unset}:${CI_JOB_ID-unset}:${CONTINUOUS_INTEGRATION-unset}]"\nexec cat\n', { mode: 0o755 })
  writeFileSync(join(dir, 'tool'), '#!/bin/sh\necho "CI[${CI-unset}]"\nexec cat\n', { mode: 0o755 })
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  const n = makeNode(fe, { env: { PATH: `${dir}:/usr/bin:/bin`, CI: 'true', CI_JOB_ID: '7', CONTINUOUS_INTEGRATION: '1' } }, cleanups)
  await n.broker.start()
  await n.connected()
  await n.broker.spawn({ name: 'gem', command: 'gemini', cwd: '/tmp' })
  await n.broker.spawn({ name: 'plain', command: 'tool', cwd: '/tmp' })
  await n.waitOutput('gem', 'CI[')
  await n.waitOutput('plain', 'CI[')
  expect(n.output('gem')).toContain('CI[unset:unset:unset]')
  expect(n.output('plain')).toContain('CI[true]')
})
