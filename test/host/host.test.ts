/**
 * The host over its contract: the same commands and events both transports carry.
 * Real embedded engine, real broker, real PTY.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { FeedMessage } from '../../shared/ipc'
import { createHost, type Host } from '../../electron/host'
import { tempDir, waitFor } from '../support/wait'

const hosts: Host[] = []
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop()
})

async function startedHost(dataDir = tempDir('host')) {
  const host = createHost({ dataDir, nodeName: 'host-test', broker: { cwd: () => dataDir, env: { ...process.env, RELAY_NODE_TOKEN: '' } } })
  hosts.push(host)
  const events: Array<{ event: string; payload: unknown }> = []
  host.onEvent((event, payload) => events.push({ event, payload }))
  await host.start()
  await waitFor(() => host.status().state === 'connected', 'node connected')
  return { host, events, dataDir }
}

describe('host', () => {
  it('starts an embedded engine, bootstraps a workspace and connects the node', async () => {
    const { host, dataDir } = await startedHost()
    const s = host.status()
    expect(s.embeddedEngine).toBe(true)
    expect(s.engineUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(s.nodeId).toMatch(/^node_[0-9a-f]{32}$/)
    expect(s.workspaceId).toBeTruthy()
    // the workspace key is a secret: on disk, 0600, never in the status the UI sees
    expect(statSync(join(dataDir, 'secrets', 'embedded-workspace.json')).mode & 0o777).toBe(0o600)
    expect(JSON.stringify(s)).not.toMatch(/rk_live_|nt_live_|at_live_/)
  })

  it('validates every request at the edge with a readable error', async () => {
    const { host } = await startedHost()
    expect(await host.invoke('nope', {})).toEqual({ ok: false, error: { code: 'unknown_command', message: 'unknown command: nope' } })
    const bad = await host.invoke('agents.spawn', { name: '', command: 'cat' })
    expect(bad.ok).toBe(false)
    if (!bad.ok) expect(bad.error.message).toMatch(/name/)
    const missing = await host.invoke('agents.spawn', { name: 'a', command: 'no-such-xyz' })
    expect(missing).toEqual({ ok: false, error: { code: 'command_not_found', message: 'command not found: no-such-xyz' } })
  })

  it('spawns an agent, sends it a message as the user, and shows the whole lifecycle', async () => {
    const { host, events } = await startedHost()
    const spawned = await host.invoke('agents.spawn', { name: 'catty', command: 'cat', cwd: '/tmp' })
    expect(spawned.ok).toBe(true)
    const sent = await host.invoke('messages.send', { to: 'catty', text: 'hi-from-user' })
    expect(sent.ok).toBe(true)
    const id = sent.ok ? (sent.result as FeedMessage).id : ''
    expect(id).toMatch(/^msg_/)
    const acked = await waitFor(() => {
      const list = (events.filter((e) => e.event === 'message.changed').map((e) => e.payload) as FeedMessage[]).filter((m) => m.id === id)
      return list.find((m) => m.state === 'acked')
    }, 'message acked in the feed')
    expect(acked.direction).toBe('out')
    expect(acked.steps.map((s) => s.state)).toEqual(expect.arrayContaining(['sending', 'sent', 'received', 'typed', 'verified', 'acked']))
    await waitFor(() => events.some((e) => e.event === 'terminal.output' && JSON.stringify(e.payload).includes('hi-from-user')), 'terminal output event')
    const snap = await host.invoke('terminal.snapshot', { name: 'catty' })
    expect(snap.ok && (snap.result as { data: string }).data).toContain('hi-from-user')
  })

  it('stops an agent and reports its exit', async () => {
    const { host } = await startedHost()
    await host.invoke('agents.spawn', { name: 'sleepy', command: 'sleep', args: ['300'], cwd: '/tmp' })
    expect(await host.invoke('agents.stop', { name: 'sleepy' })).toEqual({ ok: true, result: { ok: true } })
    await waitFor(() => host.agents().find((a) => a.name === 'sleepy' && a.status === 'exited'), 'agent exited')
  })

  it('keeps the same workspace and node across restarts of the app', async () => {
    const dataDir = tempDir('host')
    const a = await startedHost(dataDir)
    const first = a.host.status()
    await a.host.stop()
    hosts.splice(hosts.indexOf(a.host), 1)
    const b = await startedHost(dataDir)
    expect(b.host.status().workspaceId).toBe(first.workspaceId)
    expect(b.host.status().nodeId).toBe(first.nodeId)
  })
})
