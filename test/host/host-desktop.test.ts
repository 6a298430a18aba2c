/**
 * The host's desktop features end to end over its contract, with the real embedded engine,
 * broker and PTYs: detection, channels, notifications, restart persistence, leftover sweep.
 */
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import type { AgentInfo, AppNotification, FeedMessage, SettingsView } from '../../shared/ipc'
import { createHost, type Host, type HostOptions } from '../../electron/host'
import { PidMarkers } from '../../electron/host/pid-markers'
import { isAlive } from '../../electron/broker/process-tree'
import { tempDir, waitFor } from '../support/wait'

const hosts: Host[] = []
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop()
})

async function startedHost(dataDir = tempDir('hostd'), extra: Partial<HostOptions> = {}) {
  const host = createHost({ dataDir, nodeName: 'desk', broker: { cwd: () => dataDir, env: { ...process.env, RELAY_NODE_TOKEN: '' } }, idleSweepMs: 100, log: process.env.HOST_LOG ? (l, m) => console.log(l, m) : undefined, ...extra })
  hosts.push(host)
  const events: Array<{ event: string; payload: unknown }> = []
  host.onEvent((event, payload) => events.push({ event, payload }))
  await host.start()
  await waitFor(() => host.status().state === 'connected', 'node connected')
  return { host, events, dataDir }
}

async function ok<T>(p: Promise<{ ok: boolean; result?: unknown; error?: { message: string } }>): Promise<T> {
  const out = await p
  if (!out.ok) throw new Error(`command failed: ${out.error?.message}`)
  return out.result as T
}

const messages = (events: Array<{ event: string; payload: unknown }>) => events.filter((e) => e.event === 'message.changed').map((e) => e.payload as FeedMessage)
const notes = (events: Array<{ event: string; payload: unknown }>) => events.filter((e) => e.event === 'notification').map((e) => e.payload as AppNotification)

describe('host (desktop)', () => {
  it('detects agent CLIs on PATH, including per-user bin folders', async () => {
    const bin = tempDir('bin')
    for (const cli of ['claude', 'aider']) {
      writeFileSync(join(bin, cli), '#!/bin/sh\nexit 0\n')
      chmodSync(join(bin, cli), 0o755)
    }
    const { host } = await startedHost(undefined, { agentEnv: { PATH: `${bin}:${process.env.PATH}` } })
    const { clis } = await ok<{ clis: Array<{ name: string; path: string }> }>(host.invoke('agents.detect', {}))
    expect(clis).toEqual(expect.arrayContaining([{ name: 'claude', path: join(bin, 'claude') }, { name: 'aider', path: join(bin, 'aider') }]))
  })

  it('sends to a channel as the user; the agent that joined it at spawn gets it typed', async () => {
    const { host, events } = await startedHost()
    const agent = await ok<AgentInfo>(host.invoke('agents.spawn', { name: 'cat1', command: 'cat', cwd: '/tmp', channels: ['#team'] }))
    expect(agent.channels).toEqual(['team'])
    expect(agent.error).toBeUndefined()
    const sent = await ok<FeedMessage>(host.invoke('messages.send', { to: '#team', text: 'to-the-team' }))
    expect(sent).toMatchObject({ to: '#team', channel: '#team', direction: 'out', replaces: expect.stringMatching(/^local_/) })
    await waitFor(() => messages(events).find((m) => m.id === sent.id && m.state === 'acked'), 'channel message typed and acked')
    await waitFor(() => events.some((e) => e.event === 'terminal.output' && JSON.stringify(e.payload).includes('to-the-team')), 'cat echoed it')
    // A channel nobody created yet is created on first send.
    expect((await host.invoke('messages.send', { to: '#fresh', text: 'x' })).ok).toBe(true)
  })

  it('an unknown DM recipient is a clear error', async () => {
    const { host } = await startedHost()
    expect(await host.invoke('messages.send', { to: 'nobody', text: 'x' })).toEqual({ ok: false, error: { code: 'recipient_not_found', message: 'no agent named "nobody" in this workspace' } })
  })

  it('notifies when an agent crashes or waits for input, not when the user stops it or looks at it', async () => {
    const { host, events } = await startedHost()
    await ok(host.invoke('settings.set', { notifications: { idleSeconds: 3 } }))
    await ok(host.invoke('agents.spawn', { name: 'crash', command: 'sh', args: ['-c', 'read x; exit 3'], cwd: '/tmp' }))
    await ok(host.invoke('agents.spawn', { name: 'quiet', command: 'sh', args: ['-c', 'echo ready; sleep 60'], cwd: '/tmp' }))
    await ok(host.invoke('agents.spawn', { name: 'stopme', command: 'sleep', args: ['60'], cwd: '/tmp' }))
    await ok(host.invoke('terminal.write', { name: 'crash', data: 'go\r' }))
    await waitFor(() => notes(events).find((n) => n.kind === 'agentExited' && n.agent === 'crash'), 'crash notified')
    expect(notes(events).find((n) => n.agent === 'crash')?.title).toBe('crash crashed')
    await waitFor(() => host.agents().find((a) => a.name === 'crash')?.attention, 'crash needs attention')
    const idle = await waitFor(() => notes(events).find((n) => n.kind === 'agentIdle' && n.agent === 'quiet'), 'idle notified', 8000)
    expect(idle.body).toBe('ready')
    expect(host.agents().find((a) => a.name === 'quiet')).toMatchObject({ activity: 'idle', attention: true })
    // Looking at it clears attention.
    await ok(host.invoke('ui.viewing', { agent: 'quiet', focused: true }))
    expect(host.agents().find((a) => a.name === 'quiet')?.attention).toBeUndefined()
    await ok(host.invoke('agents.stop', { name: 'stopme' }))
    await waitFor(() => host.agents().find((a) => a.name === 'stopme' && a.status === 'exited'), 'stopped')
    expect(notes(events).some((n) => n.agent === 'stopme' && n.kind === 'agentExited')).toBe(false)
  })

  it('after a restart: the same agents (respawned if marked), the feed history and the settings', async () => {
    const dataDir = tempDir('hostd')
    const a = await startedHost(dataDir)
    await ok(host(a).invoke('settings.set', { nodeName: 'renamed', closeToTray: false, skipPermissionPrompts: true, notifications: { agentIdle: false } }))
    await ok(host(a).invoke('agents.spawn', { name: 'keeper', command: 'cat', cwd: '/tmp', restart: true }))
    await ok(host(a).invoke('agents.spawn', { name: 'oneoff', command: 'cat', cwd: '/tmp' }))
    const sent = await ok<FeedMessage>(host(a).invoke('messages.send', { to: 'keeper', text: 'remember-me' }))
    await waitFor(() => messages(a.events).find((m) => m.id === sent.id && m.state === 'acked'), 'acked')
    await a.host.stop()
    hosts.splice(hosts.indexOf(a.host), 1)

    const b = await startedHost(dataDir)
    const settings = await ok<SettingsView>(b.host.invoke('settings.get', {}))
    expect(settings).toMatchObject({ nodeName: 'renamed', closeToTray: false, skipPermissionPrompts: true, notifications: { agentIdle: false, agentExited: true } })
    // The node name changed after the first start: the second start uses it.
    expect(b.host.status().nodeName).toBe('desk') // the nodeName option wins over settings in tests
    expect(settings.restartRequired).toBe(false)
    await waitFor(() => b.host.agents().find((x) => x.name === 'keeper' && x.status === 'running'), 'keeper respawned')
    expect(b.host.agents().find((x) => x.name === 'oneoff')).toMatchObject({ status: 'exited', dormant: true })
    const history = await ok<FeedMessage[]>(b.host.invoke('messages.list', {}))
    expect(history.find((m) => m.id === sent.id)).toMatchObject({ text: 'remember-me', state: 'acked' })
    // A remembered agent can be started again, and removed.
    await ok(b.host.invoke('agents.start', { name: 'oneoff' }))
    await waitFor(() => b.host.agents().find((x) => x.name === 'oneoff' && x.status === 'running'), 'oneoff started')
    await ok(b.host.invoke('agents.stop', { name: 'oneoff' }))
    await waitFor(() => b.host.agents().find((x) => x.name === 'oneoff' && x.status === 'exited'), 'oneoff stopped')
    await ok(b.host.invoke('agents.remove', { name: 'oneoff' }))
    expect(b.host.agents().some((x) => x.name === 'oneoff')).toBe(false)
    expect(JSON.parse(readFileSync(join(dataDir, 'agents.json'), 'utf8')).agents.map((r: { name: string }) => r.name)).toEqual(['keeper'])
  })

  it('settings.set validates, never returns a key, and flags an engine change for a node restart', async () => {
    const { host } = await startedHost()
    expect(await host.invoke('settings.set', { engine: { mode: 'remote', url: 'http://team:1' } })).toMatchObject({ ok: false, error: { message: /workspace key/ } })
    expect(await host.invoke('settings.set', { engine: { mode: 'remote', url: 'not a url', workspaceKey: 'rk_live_x' } })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    const view = await ok<SettingsView>(host.invoke('settings.set', { engine: { mode: 'remote', url: 'http://team:1', workspaceKey: 'rk_live_abc' } }))
    expect(view.engine).toEqual({ mode: 'remote', url: 'http://team:1', workspaceKeySet: true })
    expect(view.restartRequired).toBe(true)
    expect(JSON.stringify(view)).not.toContain('rk_live_abc')
    expect(await host.invoke('settings.set', { startAtLogin: true })).toMatchObject({ ok: false, error: { code: 'unsupported' } })
    const back = await ok<SettingsView>(host.invoke('settings.set', { engine: { mode: 'embedded' } }))
    expect(back.restartRequired).toBe(false)
  })

  it('restarts the node in-process to apply settings; agents marked restart come back', async () => {
    const { host } = await startedHost(undefined, { nodeName: undefined })
    await ok(host.invoke('settings.set', { nodeName: 'after-restart' }))
    await ok(host.invoke('agents.spawn', { name: 'stay', command: 'cat', cwd: '/tmp', restart: true }))
    expect((await ok<SettingsView>(host.invoke('settings.get', {}))).restartRequired).toBe(true)
    await ok(host.invoke('node.restart', {}))
    await waitFor(() => host.status().state === 'connected', 'reconnected')
    expect(host.status().nodeName).toBe('after-restart')
    await waitFor(() => host.agents().find((a) => a.name === 'stay' && a.status === 'running'), 'respawned')
    expect((await ok<SettingsView>(host.invoke('settings.get', {}))).restartRequired).toBe(false)
  })

  it('at start, stops agent processes a crashed run left behind (PID markers)', async () => {
    const dataDir = tempDir('hostd')
    // A "leftover agent": its own session, like a PTY child.
    const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' })
    orphan.unref()
    const pid = orphan.pid as number
    mkdirSync(join(dataDir, 'pids'), { recursive: true })
    new PidMarkers(join(dataDir, 'pids')).write('ghost', pid, 'sleep')
    try {
      await startedHost(dataDir)
      await waitFor(() => !isAlive(pid), 'leftover stopped', 5000)
      expect(new PidMarkers(join(dataDir, 'pids')).list()).toEqual([])
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    }
  })

  it('a message to the user from an agent appears in the feed (engine user push)', async () => {
    const { host, events, dataDir } = await startedHost()
    await ok(host.invoke('agents.spawn', { name: 'talker', command: 'cat', cwd: '/tmp' }))
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets', 'embedded-workspace.json'), 'utf8'))
    const base = host.status().engineUrl
    // Our engine serves the user stream (an upgrade-only route): without a token it answers
    // 401. A 404 here means the route is gone, and the feed below would never see the message.
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/v1/user/ws`)
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('open', () => {
        ws.close()
        resolve(101)
      })
      ws.on('error', () => resolve(0))
    })
    expect(status).toBe(401)
    const bot = (await (await fetch(`${base}/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${secrets.workspaceKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bot' }) })).json()) as { data: { token: string } }
    const user = host.status().userName as string
    const res = await fetch(`${base}/v1/dm`, { method: 'POST', headers: { authorization: `Bearer ${bot.data.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: user, text: 'hello-human' }) })
    expect(res.status).toBe(201)
    const msg = await waitFor(() => messages(events).find((m) => m.text === 'hello-human'), 'message to the user in the feed')
    expect(msg).toMatchObject({ from: 'bot', to: user, direction: 'in', toUser: true })
    expect(host.status().userUnread).toBe(1)
    await waitFor(() => notes(events).find((n) => n.kind === 'messageToUser'), 'notified')
  })
})

function host(x: { host: Host }): Host {
  return x.host
}
