/** The host's small rule modules, alone: notifier, idle detector, agent book, pid markers, settings, user frames. */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import type { AppNotification } from '../../shared/ipc'
import { AgentBook, resumeArgs } from '../../electron/host/agent-book'
import { FeedBook } from '../../electron/host/feed'
import { FeedFile } from '../../electron/host/feed-file'
import { augmentedPath, lastLine } from '../../electron/host/host'
import { IdleDetector, Notifier, type Viewing } from '../../electron/host/notifier'
import { parseProcStat, PidMarkers, type ProcessProbe } from '../../electron/host/pid-markers'
import { DEFAULT_NOTIFICATIONS, SettingsStore, toSettingsView } from '../../electron/host/settings'
import { parseUserFrame } from '../../electron/host/user-stream'
import { tempDir } from '../support/wait'

describe('Notifier', () => {
  function setup(prefs = DEFAULT_NOTIFICATIONS, viewing: Viewing = { agent: null, focused: false }) {
    let now = 1_000
    const shown: AppNotification[] = []
    const view = { ...viewing }
    const n = new Notifier({ prefs: () => prefs, viewing: () => view, emit: (x) => shown.push(x), now: () => now })
    return { n, shown, view, advance: (ms: number) => (now += ms) }
  }
  const exited = { kind: 'agentExited' as const, agent: 'alice', title: 'alice crashed', body: 'exit 1' }

  it('shows a notification with an id and time', () => {
    const { n, shown } = setup()
    n.notify(exited)
    expect(shown).toEqual([{ id: 'n1', kind: 'agentExited', agent: 'alice', title: 'alice crashed', body: 'exit 1', at: 1000, merged: 0 }])
  })

  it('each kind can be turned off', () => {
    const { n, shown } = setup({ ...DEFAULT_NOTIFICATIONS, agentExited: false })
    expect(n.notify(exited)).toBeUndefined()
    n.notify({ kind: 'agentIdle', agent: 'alice', title: 't', body: 'b' })
    expect(shown.map((s) => s.kind)).toEqual(['agentIdle'])
  })

  it('nothing about the agent the user is looking at in a focused window', () => {
    const { n, shown, view } = setup(DEFAULT_NOTIFICATIONS, { agent: 'alice', focused: true })
    n.notify(exited)
    n.notify({ ...exited, agent: 'bob', title: 'bob crashed' })
    expect(shown.map((s) => s.agent)).toEqual(['bob'])
    // Messages to the user: the feed is on screen whenever the window is focused.
    n.notify({ kind: 'messageToUser', title: 'm', body: 'hi' })
    expect(shown).toHaveLength(1)
    view.focused = false
    n.notify({ kind: 'messageToUser', title: 'm', body: 'hi' })
    expect(shown).toHaveLength(2)
  })

  it('merges repeats of one kind and agent within 30 s, and says how many', () => {
    const { n, shown, advance } = setup()
    n.notify(exited)
    advance(10_000)
    n.notify(exited)
    n.notify(exited)
    n.notify({ ...exited, agent: 'bob' })
    expect(shown.map((s) => s.agent)).toEqual(['alice', 'bob'])
    advance(30_000)
    n.notify(exited)
    expect(shown[2]).toMatchObject({ agent: 'alice', merged: 2, body: 'exit 1 (+2 similar)' })
  })
})

describe('IdleDetector', () => {
  it('idle after silence that followed output; working again on output', () => {
    const d = new IdleDetector()
    expect(d.sweep(10_000, 1000)).toEqual([])
    d.output('a', 0)
    expect(d.activity('a')).toBe('working')
    expect(d.sweep(500, 1000)).toEqual([])
    expect(d.sweep(1000, 1000)).toEqual(['a'])
    expect(d.sweep(5000, 1000)).toEqual([]) // once per quiet spell
    expect(d.activity('a')).toBe('idle')
    expect(d.output('a', 6000)).toBe(true)
    expect(d.output('a', 6001)).toBe(false)
    d.forget('a')
    expect(d.activity('a')).toBeUndefined()
  })
})

describe('AgentBook', () => {
  it('remembers agents across instances and sets a corrupt file aside', () => {
    const dir = tempDir('book')
    const path = join(dir, 'agents.json')
    const a = new AgentBook(path)
    a.upsert({ name: 'rev', command: 'claude', args: ['--model', 'opus'], cwd: '/src', channels: ['general'], restart: true, createdAt: 5 })
    a.upsert({ name: 'sh', command: 'bash', args: [], cwd: '/tmp', channels: [], restart: false, createdAt: 6 })
    a.remove('sh')
    expect(new AgentBook(path).list()).toEqual([{ name: 'rev', command: 'claude', args: ['--model', 'opus'], cwd: '/src', channels: ['general'], restart: true, createdAt: 5 }])
    expect(statSync(path).mode & 0o777).toBe(0o600)
    writeFileSync(path, '{nope')
    const log = vi.fn()
    expect(new AgentBook(path, log).list()).toEqual([])
    expect(log).toHaveBeenCalledWith(expect.stringContaining('moved it to'))
  })

  it('resumes the CLI session where the CLI supports it', () => {
    expect(resumeArgs('claude', ['--model', 'opus'])).toEqual(['--continue', '--model', 'opus'])
    expect(resumeArgs('/usr/bin/claude', ['--resume', 'x'])).toEqual(['--resume', 'x'])
    expect(resumeArgs('codex', [])).toEqual(['resume', '--last'])
    expect(resumeArgs('bash', ['-l'])).toEqual(['-l'])
  })
})

describe('FeedFile', () => {
  it('writes the feed once per burst and reads it back, minus unsent placeholders', () => {
    vi.useFakeTimers()
    try {
      const path = join(tempDir('feed'), 'feed.json')
      const book = new FeedBook()
      const file = new FeedFile(path, () => book.list(), 1000)
      book.step('msg_1', { from: 'me', to: 'a', text: 'hi', direction: 'out' }, 'acked', 1)
      book.step('local_1', { from: 'me', to: 'a', text: 'x', direction: 'out' }, 'sending', 2)
      file.touch()
      file.touch()
      expect(existsSync(path)).toBe(false)
      vi.advanceTimersByTime(1000)
      const loaded = new FeedFile(path, () => []).load()
      expect(loaded.map((m) => m.id)).toEqual(['msg_1'])
      const again = new FeedBook()
      again.load(loaded)
      expect(again.get('msg_1')?.state).toBe('acked')
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('PidMarkers', () => {
  function probe(procs: Record<number, { start: string; session: number }>): ProcessProbe & { killed: number[] } {
    const killed: number[] = []
    return {
      killed,
      startTime: (pid) => procs[pid]?.start,
      sessionMembers: (sid) => Object.entries(procs).filter(([, p]) => p.session === sid).map(([pid, p]) => ({ pid: Number(pid), startTime: p.start })),
      kill: async (pid) => void killed.push(pid),
    }
  }

  it('kills what a crashed run left (pid and start time match, plus its session), then forgets the markers', async () => {
    const dir = tempDir('pids')
    const p = probe({ 100: { start: '500', session: 100 }, 101: { start: '510', session: 100 }, 200: { start: '900', session: 200 } })
    const markers = new PidMarkers(dir, p)
    markers.write('alice', 100, 'claude')
    markers.write('bob', 200, 'bash')
    expect(markers.list().map((m) => [m.agent, m.startTime])).toEqual(expect.arrayContaining([['alice', '500'], ['bob', '900']]))
    markers.remove('bob')
    expect(await markers.sweep()).toEqual(['alice'])
    expect(p.killed.sort()).toEqual([100, 101])
    expect(markers.list()).toEqual([])
  })

  it('leaves a reused pid alone', async () => {
    const dir = tempDir('pids')
    const old = probe({ 100: { start: '500', session: 100 } })
    new PidMarkers(dir, old).write('alice', 100, 'claude')
    // After a reboot pid 100 is somebody else, started at another time, with its own session.
    const now = probe({ 100: { start: '42', session: 100 }, 101: { start: '43', session: 100 } })
    expect(await new PidMarkers(dir, now).sweep()).toEqual([])
    expect(now.killed).toEqual([])
  })

  it('reads start time and session from /proc/<pid>/stat, even with spaces in comm', () => {
    const fields = ['S', '1', '77', '77', '0', '-1', '4194560', '1', '0', '0', '0', '0', '0', '0', '0', '20', '0', '1', '0', '123456']
    expect(parseProcStat(`77 (my (odd) cmd) ${fields.join(' ')} 999 0`)).toEqual({ startTime: '123456', session: 77 })
  })
})

describe('settings and secrets', () => {
  it('defaults, persists, and keeps the remote key out of the view and of settings.json', () => {
    const dir = tempDir('settings')
    const codec = { name: 'test', encrypt: (s: string) => Buffer.from(s).toString('hex'), decrypt: (s: string) => Buffer.from(s, 'hex').toString() }
    const store = new SettingsStore(dir, () => undefined, codec)
    const s = store.load()
    expect(s).toMatchObject({ engine: { mode: 'embedded' }, closeToTray: true, startAtLogin: false, notifications: DEFAULT_NOTIFICATIONS })
    store.saveRemoteKey('rk_live_secret')
    store.save({ ...s, engine: { mode: 'remote', url: 'http://team:8787' }, nodeName: 'box' })
    const again = new SettingsStore(dir, () => undefined, codec)
    expect(again.resolveEngine(again.load())).toEqual({ mode: 'remote', url: 'http://team:8787', workspaceKey: 'rk_live_secret' })
    const onDisk = readFileSync(join(dir, 'settings.json'), 'utf8') + readFileSync(join(dir, 'secrets', 'remote-workspace.json'), 'utf8')
    expect(onDisk).not.toContain('rk_live_secret')
    expect(statSync(join(dir, 'secrets', 'remote-workspace.json')).mode & 0o777).toBe(0o600)
    const view = toSettingsView(again.load(), { remoteKeySet: true, restartRequired: false, engineOverridden: false })
    expect(view.engine).toEqual({ mode: 'remote', url: 'http://team:8787', workspaceKeySet: true })
    expect(JSON.stringify(view)).not.toContain('rk_')
    // Without the codec (e.g. headless on the same folder) the wrapped key is not readable: say so.
    const log = vi.fn()
    expect(new SettingsStore(dir, log).loadRemoteKey()).toBeUndefined()
    expect(log).toHaveBeenCalledWith(expect.stringContaining('set the key again'))
  })
})

describe('helpers', () => {
  it('adds per-user bin folders that exist to PATH', () => {
    expect(augmentedPath('/usr/bin', '/home/me', (p) => p === '/home/me/.local/bin')).toBe('/usr/bin:/home/me/.local/bin')
  })
  it('finds the last visible line of output', () => {
    expect(lastLine('one\r\n\x1b[32mDo you want to proceed?\x1b[0m (y/n)\r\n\x1b[?25h  \r\n')).toBe('Do you want to proceed? (y/n)')
  })
  it('reads the engine user stream frames', () => {
    const msg = parseUserFrame(
      { type: 'message', v: 1, cursor: 4, seq: 4, event: 'dm.received', message: { id: 'msg_1', agent_name: 'rev', text: 'done?', created_at: '2026-01-01T00:00:00.000Z' } },
      'me',
    )
    expect(msg).toEqual({ kind: 'message', cursor: 4, message: { id: 'msg_1', from: 'rev', text: 'done?', channel: undefined, at: Date.parse('2026-01-01T00:00:00.000Z') } })
    const ch = parseUserFrame({ type: 'message', cursor: 5, event: 'message.created', message: { id: 'msg_2', agent_name: 'rev', text: 'hi all', channel_name: 'general' } }, 'me')
    expect(ch.kind === 'message' && ch.message.channel).toBe('#general')
    expect(parseUserFrame({ type: 'delivery.updated', message_id: 'msg_3', agent_name: 'rev', status: 'acked', at: '2026-01-01T00:00:01.000Z' }, 'me')).toMatchObject({
      kind: 'delivery',
      update: { messageId: 'msg_3', agent: 'rev', state: 'acked' },
    })
    expect(parseUserFrame({ type: 'delivery.failed', message_id: 'msg_4', recipient: 'rev', reason: 'expired' }, 'me')).toMatchObject({ kind: 'delivery', update: { state: 'failed', detail: 'expired' } })
    expect(parseUserFrame({ type: 'hello' }, 'me').kind).toBe('other')
  })
})
