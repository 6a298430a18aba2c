/**
 * The host: one app instance. Composes the engine (embedded on 127.0.0.1 by default,
 * or a remote team engine from settings), the broker, settings, the message feed, the
 * remembered agents, notifications and the user's push stream, and exposes the IPC
 * contract. Electron main and the headless server both start one.
 *
 * Why one module of this size: every command handler needs the same handful of live
 * objects (broker, api, feed, settings), and passing them around would hide more than it
 * shows. The pieces with rules of their own live beside it (feed, agent-book, notifier,
 * pid-markers, user-stream, channels, settings), each tested alone.
 */
import { existsSync } from 'node:fs'
import { homedir, userInfo } from 'node:os'
import { delimiter, join } from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import {
  parseRequest,
  isCommandName,
  type AgentInfo,
  type AppInfo,
  type CommandName,
  type CommandOutcome,
  type EventName,
  type FeedMessage,
  type NodeStatus,
  type ParsedRequest,
  type CommandResult,
  type SettingsView,
} from '../../shared/ipc'
import { Broker, BrokerError, KNOWN_AGENT_CLIS, defaultStateDir, type AgentSnapshot, type BrokerEvent, type BrokerOptions } from '../broker'
import { resolveCommand } from '../broker/agent-runtime'
import { EngineApi, EngineApiError } from '../broker'
import { startEmbeddedEngine, type EmbeddedEngine } from './embedded-engine'
import { AgentBook, resumeArgs, type AgentRecord } from './agent-book'
import { joinChannel, postToChannel } from './channels'
import { FeedBook } from './feed'
import { FeedFile } from './feed-file'
import { Notifier, type Viewing } from './notifier'
import { AttentionTracker } from './attention'
import { PidMarkers, type ProcessProbe } from './pid-markers'
import { SettingsStore, toSettingsView, type EngineSettings, type SecretCodec, type Settings } from './settings'
import { UserStream } from './user-stream'
import { HostConnection, OutputFlow, type EventBatch } from './connection'
import { loopbackFetch } from './loopback-fetch'
import { ReviewArea } from './review-area'
import { ANSI_SEQUENCE } from '../broker/files'

export type HostLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void

/** What only the embedding shell (Electron) can do; headless mode leaves these out. */
export interface HostPlatform {
  mode: 'electron' | 'headless'
  pickDirectory?(defaultPath?: string): Promise<string | null>
  applyStartAtLogin?(enabled: boolean): void | Promise<void>
  nativeNotifications?: boolean
}

export interface HostOptions {
  dataDir: string
  /** Overrides settings.json (used by tests, the CLI flags and env). */
  engine?: EngineSettings
  nodeName?: string
  log?: HostLog
  /** Extra environment for agents (e.g. a PATH carrying the `relay` command). */
  agentEnv?: Record<string, string>
  broker?: Partial<Pick<BrokerOptions, 'injector' | 'nodeClient' | 'cwd' | 'env'>>
  platform?: HostPlatform
  /** Wraps secrets at rest (Electron: safeStorage); a function when it becomes usable later. */
  secretCodec?: SecretCodec | (() => SecretCodec | undefined)
  appVersion?: string
  /** Test seams. */
  processProbe?: ProcessProbe
  idleSweepMs?: number
}

export interface Host {
  start(): Promise<void>
  stop(): Promise<void>
  invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>>
  onEvent(listener: (event: EventName, payload: unknown) => void): () => void
  status(): NodeStatus
  agents(): AgentInfo[]
  /** Current settings as the UI sees them (no secrets). */
  settings(): SettingsView
  /** Emit a UI-only event (tray → window: focus an agent, open the spawn dialog, …). */
  broadcast(event: 'ui.focusAgent' | 'ui.openSpawn' | 'ui.openSettings', payload: unknown): void
  /**
   * A UI connection (a window, a headless page): the transport pushes host events into it
   * and hands it the connection's commands; it sends batches through `send`.
   */
  connect(send: (batch: EventBatch) => void): HostConnection
}

/** The human user's name in the workspace: the OS user, made a valid agent name. */
export function defaultUserName(): string {
  let name = 'you'
  try {
    name = userInfo().username || name
  } catch {
    // no passwd entry (containers)
  }
  return name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'you'
}

/**
 * Apps started from a desktop launcher get a minimal PATH, so CLIs installed in the
 * usual per-user places would be "not found" (pear-lessons §5 #9). Add those that exist.
 */
export function augmentedPath(base: string, home = homedir(), exists: (p: string) => boolean = existsSync): string {
  const extra = [
    join(home, '.local', 'bin'),
    join(home, '.npm-global', 'bin'),
    join(home, '.bun', 'bin'),
    join(home, '.cargo', 'bin'),
    join(home, '.claude', 'local'),
    '/usr/local/bin',
    '/opt/homebrew/bin',
  ]
  const parts = base.split(delimiter).filter(Boolean)
  for (const dir of extra) if (!parts.includes(dir) && exists(dir)) parts.push(dir)
  return parts.join(delimiter)
}


/** The last line of visible text an agent printed, for "waiting for input" notifications. */
export function lastLine(output: string): string {
  const lines = output.slice(-4000).replace(ANSI_SEQUENCE, '').split(/\r?\n|\r/)
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].replace(/[\x00-\x1f\x7f]/g, '').trim()
    if (line) return line.length > 160 ? `${line.slice(0, 157)}…` : line
  }
  return ''
}

/**
 * The broker keeps each agent's relay token private. Joining channels at spawn needs it.
 * Prefer a public accessor once the broker has one; until then read its entry.
 */
function agentTokenOf(broker: Broker, name: string): string | undefined {
  const b = broker as unknown as { agentToken?: (n: string) => string | undefined; agents?: Map<string, { token?: string }> }
  if (typeof b.agentToken === 'function') return b.agentToken(name)
  return b.agents?.get(name)?.token
}

export function createHost(options: HostOptions): Host {
  const log: HostLog = options.log ?? (() => undefined)
  const settingsStore = new SettingsStore(options.dataDir, (m) => log('warn', m), options.secretCodec)
  let settings: Settings = settingsStore.load()
  const feed = new FeedBook()
  // Every 3 s at most: serializing 2000 messages costs the event loop ~10 ms (quit flushes the rest).
  const feedFile = new FeedFile(join(options.dataDir, 'feed.json'), () => feed.list(), 3000, (m) => log('warn', m))
  feed.load(feedFile.load())
  const agentBook = new AgentBook(join(options.dataDir, 'agents.json'), (m) => log('warn', m))
  const pidMarkers = new PidMarkers(join(options.dataDir, 'pids'), options.processProbe, (m) => log('warn', m))
  const listeners = new Set<(event: EventName, payload: unknown) => void>()
  const platform: HostPlatform = options.platform ?? { mode: 'headless' }
  const basePath = options.agentEnv?.PATH ?? options.broker?.env?.PATH ?? process.env.PATH ?? ''
  const agentPath = augmentedPath(basePath)
  const agentEnv = { ...options.agentEnv, PATH: agentPath }

  let viewing: Viewing = { agent: null, focused: false }
  // Output flow control over every connection: a PTY whose viewer is behind is paused.
  const flow = new OutputFlow({
    pause: (name) => {
      log('debug', `${name}: a viewer is behind; output paused`)
      broker?.setOutputPaused(name, true)
    },
    resume: (name) => {
      log('debug', `${name}: its viewers caught up; output resumed`)
      broker?.setOutputPaused(name, false)
    },
    paused: (name) => broker?.outputPaused(name) ?? false,
  })
  // Event-loop delay since the last debug.metrics call (the bench reads it).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  let lastElu = performance.eventLoopUtilization()
  const userStopped = new Set<string>()
  const lastStatus = new Map<string, AgentInfo['status']>()
  let userUnread = 0
  const notifier = new Notifier({ prefs: () => settings.notifications, viewing: () => viewing, emit: (n) => emit('notification', n) })
  const attention = new AttentionTracker({
    notifier,
    viewing: () => viewing,
    idleMs: () => settings.notifications.idleSeconds * 1000,
    snapshot: (name) => snapshotOf(name),
    lastLine: (name) => {
      try {
        return lastLine(broker?.scrollback(name) ?? '')
      } catch {
        return '' // gone meanwhile
      }
    },
  })

  let engineSettings = currentEngine()
  let startedWith = startKey()
  let engine: EmbeddedEngine | undefined
  let broker: Broker | undefined
  let api: EngineApi | undefined
  let userStream: UserStream | undefined
  let engineUrl = engineSettings.mode === 'remote' ? engineSettings.url : ''
  let workspaceId: string | undefined
  let userName = defaultUserName()
  let userToken: string | undefined
  let startError: string | undefined
  let localIds = 0
  let pendingRespawn: AgentRecord[] = []
  const review = new ReviewArea({
    dataDir: options.dataDir,
    log,
    worktreeOf: (name) => agentBook.get(name)?.worktree,
    changed: (name) => emit('diff.changed', { name }),
    sendAsUser: (to, text) => sendMessage({ to, text }),
  })
  let idleTimer: ReturnType<typeof setInterval> | undefined
  /** True while the node stops: agent exits then are expected, not news. */
  let stopping = false

  function currentEngine(): EngineSettings | { mode: 'remote'; url: string; workspaceKey?: undefined } {
    return options.engine ?? settingsStore.resolveEngine(settings)
  }
  function startKey(): string {
    const e = currentEngine()
    return JSON.stringify([e.mode, e.mode === 'remote' ? e.url : '', e.mode === 'remote' ? (e.workspaceKey ?? '') : '', options.nodeName ?? settings.nodeName ?? ''])
  }

  /**
   * node.status at most every 250 ms (trailing): every delivery changes an agent twice, and
   * each change would otherwise re-send the whole status (and count the live agents).
   */
  let statusTimer: ReturnType<typeof setTimeout> | undefined
  const emitStatusSoon = () => {
    if (statusTimer) return
    statusTimer = setTimeout(() => {
      statusTimer = undefined
      emit('node.status', status())
    }, 250)
    statusTimer.unref?.()
  }

  const emit = (event: EventName, payload: unknown) => {
    for (const l of listeners) {
      try {
        l(event, payload)
      } catch (err) {
        log('error', `event listener failed on ${event}: ${(err as Error).message}`)
      }
    }
  }

  function settingsView(): SettingsView {
    return toSettingsView(settings, {
      remoteKeySet: settings.engine.mode === 'remote' && settingsStore.loadRemoteKey() !== undefined,
      restartRequired: startKey() !== startedWith,
      engineOverridden: options.engine !== undefined,
    })
  }

  function status(): NodeStatus {
    const s = broker?.state
    const stateMap = { idle: 'connecting', connecting: 'connecting', connected: 'connected', backoff: 'reconnecting', stopped: 'disconnected' } as const
    return {
      state: startError ? 'disconnected' : s ? stateMap[s.state] : 'starting',
      reason: startError ?? (s?.state === 'connected' ? undefined : s?.detail),
      nodeName: broker?.identity.nodeName ?? '',
      nodeId: broker?.identity.nodeId ?? '',
      engineUrl,
      embeddedEngine: engineSettings.mode === 'embedded',
      workspaceId,
      userName,
      lastHeartbeatAt: s?.lastHeartbeatAt,
      agentsOnline: broker?.liveAgents().length ?? 0,
      userUnread,
    }
  }

  function decorate(a: AgentSnapshot): AgentInfo {
    const rec = agentBook.get(a.name)
    const { screen: _screen, ...rest } = a
    return {
      ...rest, channels: rec?.channels ?? [], restart: rec?.restart ?? false, ...attention.describe(a),
      ...(rec?.worktree ? { worktree: rec.worktree } : {}),
    }
  }

  function dormant(rec: AgentRecord): AgentInfo {
    return {
      name: rec.name,
      command: rec.command,
      args: rec.args,
      cwd: rec.cwd,
      status: 'exited',
      startedAt: rec.createdAt,
      pendingInjections: 0,
      channels: rec.channels,
      restart: rec.restart,
      dormant: true,
      ...(rec.worktree ? { worktree: rec.worktree } : {}),
    }
  }

  function agents(): AgentInfo[] {
    const live = (broker?.listAgents() ?? []).map(decorate)
    const names = new Set(live.map((a) => a.name))
    return [...live, ...agentBook.list().filter((r) => !names.has(r.name)).map(dormant)]
  }

  /**
   * One agent's snapshot. The broker only lists them all, so the idle sweep (which may touch
   * every one of 1000 agents) reads the list once, not once per agent.
   */
  let sweepSnapshots: Map<string, AgentSnapshot> | undefined
  function snapshotOf(name: string): AgentSnapshot | undefined {
    if (!broker?.hasAgent(name)) return undefined
    return sweepSnapshots ? sweepSnapshots.get(name) : broker.listAgents().find((a) => a.name === name)
  }

  function agentChanged(name: string): void {
    const snap = snapshotOf(name)
    if (snap) emit('agent.changed', decorate(snap))
  }

  function feedChanged(msg: FeedMessage): void {
    emit('message.changed', msg)
    feedFile.touch()
  }

  function onAgentState(agent: AgentSnapshot): void {
    const prev = lastStatus.get(agent.name)
    lastStatus.set(agent.name, agent.status)
    if (agent.status === 'running' && prev !== 'running' && agent.pid) pidMarkers.write(agent.name, agent.pid, agent.command)
    if ((agent.status === 'exited' || agent.status === 'failed') && prev !== agent.status) {
      pidMarkers.remove(agent.name)
      attention.forget(agent.name)
      const byUser = userStopped.delete(agent.name)
      if (prev === 'running' && !byUser && !stopping) {
        const crashed = agent.status === 'failed' || (agent.exitCode != null && agent.exitCode !== 0)
        if (crashed) attention.crashed(agent.name)
        notifier.notify({
          kind: 'agentExited',
          agent: agent.name,
          title: crashed ? `${agent.name} crashed` : `${agent.name} exited`,
          body: `${[agent.command, ...agent.args].join(' ')}${agent.exitCode != null ? ` · exit code ${agent.exitCode}` : ''}${agent.error ? ` · ${agent.error}` : ''}`,
        })
      }
    }
  }

  function onBrokerEvent(e: BrokerEvent): void {
    switch (e.type) {
      case 'node.state':
        emit('node.status', status())
        // Deferred: this event fires just before the client sends node.register, and an
        // agent.register must not overtake it on the socket.
        if (e.state === 'connected' && pendingRespawn.length) setTimeout(() => void respawnRemembered(), 0)
        return
      case 'node.heartbeat':
        emit('node.status', status())
        return
      case 'agent.state':
        onAgentState(e.agent)
        attention.snapshot(e.agent)
        emit('agent.changed', decorate(e.agent))
        emitStatusSoon()
        return
      case 'agent.output':
        emit('terminal.output', { name: e.name, data: e.data })
        if (attention.output(e.name, Date.now())) agentChanged(e.name)
        return
      case 'agent.removed':
        emit('agent.removed', { name: e.name })
        return
      case 'delivery': {
        const s = e.step
        const channel = s.target.startsWith('#') ? s.target : undefined
        const msg = feed.step(s.msgId, { from: s.from, to: channel ?? s.agent, text: s.text, direction: 'in' }, s.state, s.at, s.detail)
        if (channel && !msg.channel) msg.channel = channel
        feedChanged(msg)
        if (s.state === 'failed') {
          notifier.notify({ kind: 'deliveryFailed', agent: s.agent, messageId: s.msgId, title: `Delivery to ${s.agent} failed`, body: s.detail ?? s.text.slice(0, 200) })
        }
        return
      }
    }
  }

  function sweepIdle(): void {
    if (!broker) return
    sweepSnapshots = new Map(broker.listAgents().map((a) => [a.name, a]))
    try {
      for (const name of attention.sweep(Date.now())) agentChanged(name)
    } finally {
      sweepSnapshots = undefined
    }
  }

  async function bootstrapWorkspace(): Promise<{ key: string; id?: string; label: string }> {
    if (engineSettings.mode === 'remote') {
      if (!engineSettings.workspaceKey) throw new Error('no workspace key is set for the remote engine: add it in Settings')
      return { key: engineSettings.workspaceKey, label: 'team' }
    }
    const saved = settingsStore.loadEmbeddedSecrets()
    if (saved) return { key: saved.workspaceKey, id: saved.workspaceId, label: 'local' }
    const created = await (api as EngineApi).createWorkspace('local')
    settingsStore.saveEmbeddedSecrets({ workspaceId: created.workspace_id, workspaceKey: created.api_key })
    return { key: created.api_key, id: created.workspace_id, label: 'local' }
  }

  function onUserMessage(m: { id: string; from: string; text: string; channel?: string; at: number }): void {
    if (feed.get(m.id)?.steps.length) return
    const msg = feed.step(m.id, { from: m.from, to: m.channel ?? userName, text: m.text, direction: 'in' }, 'received', m.at)
    msg.toUser = !m.channel
    if (m.channel) msg.channel = m.channel
    feedChanged(msg)
    if (m.from === userName) return
    if (!viewing.focused) {
      userUnread += 1
      emit('node.status', status())
    }
    notifier.notify({ kind: 'messageToUser', key: m.from, messageId: m.id, title: `Message from ${m.from}${m.channel ? ` in ${m.channel}` : ''}`, body: m.text.slice(0, 200) })
  }

  function onUserDelivery(u: { messageId: string; agent?: string; state: string; at: number; detail?: string }): void {
    const existing = feed.get(u.messageId)
    if (!existing) return
    // A recipient on this node: the broker already reports each step, finer than the engine.
    if (u.agent && broker?.hasAgent(u.agent)) return
    const map: Record<string, FeedMessage['state']> = {
      queued: 'queued', pending: 'queued', delivered: 'received', received: 'received', injected: 'typed', typed: 'typed',
      verified: 'verified', acked: 'acked', read: 'acked', failed: 'failed', expired: 'expired', dead: 'failed', dead_lettered: 'failed', dead_letter: 'failed',
    }
    const state = map[u.state]
    if (!state) return
    const detail = [u.agent, u.detail].filter(Boolean).join(': ') || undefined
    feedChanged(feed.step(u.messageId, existing, state, u.at, detail))
    if (state === 'failed' || state === 'expired') {
      notifier.notify({ kind: 'deliveryFailed', agent: u.agent, messageId: u.messageId, title: `Delivery to ${u.agent ?? existing.to} ${state}`, body: u.detail ?? existing.text.slice(0, 200) })
    }
  }

  async function start(): Promise<void> {
    startError = undefined
    engineSettings = currentEngine()
    startedWith = startKey()
    engineUrl = engineSettings.mode === 'remote' ? engineSettings.url : ''
    try {
      // Before anything spawns: agents an earlier run left behind after a crash.
      await pidMarkers.sweep()
    } catch (err) {
      log('warn', `could not sweep leftover agents: ${(err as Error).message}`)
    }
    try {
      if (engineSettings.mode === 'embedded') {
        engine = await startEmbeddedEngine(join(options.dataDir, 'engine'), (l, m) => log(l, `engine: ${m}`), undefined, (why) => {
          startError = `${why}; restart the node (Settings) or the app`
          log('error', startError)
          emit('node.status', status())
        })
        engineUrl = engine.url
        log('info', `embedded engine at ${engine.url} (${engine.isolation === 'worker' ? 'own thread' : 'this thread'})`)
      }
      api = new EngineApi({ baseUrl: engineUrl, fetchImpl: loopbackFetch })
      const ws = await bootstrapWorkspace()
      const user = await api.ensureAgent(ws.key, userName, 'human')
      userName = user.name
      userToken = user.token
      workspaceId = ws.id ?? user.workspace_id
      if (!workspaceId) throw new Error('the engine did not say which workspace this key belongs to')
      broker = new Broker({
        baseUrl: engineUrl,
        workspaceKey: ws.key,
        workspaceId,
        workspaceLabel: ws.label,
        stateDir: defaultStateDir(options.dataDir),
        nodeName: options.nodeName ?? settings.nodeName,
        log,
        ...options.broker,
        agentEnv,
        agentPermissions: () => (settings.skipPermissionPrompts ? 'skip-all' : 'relay-tools'),
      })
      broker.on(onBrokerEvent)
      pendingRespawn = agentBook.list().filter((r) => r.restart)
      await broker.start()
      userStream = new UserStream({
        engineUrl,
        token: user.token,
        userName,
        cursorPath: join(options.dataDir, 'user-cursor.json'),
        onMessage: onUserMessage,
        onDelivery: onUserDelivery,
        log,
      })
      userStream.start()
    } catch (err) {
      startError =
        err instanceof EngineApiError ? `${err.message} (${err.code})` : `could not start: ${(err as Error).message}`
      log('error', startError)
    }
    idleTimer ??= setInterval(sweepIdle, options.idleSweepMs ?? 1000)
    idleTimer.unref?.()
    emit('node.status', status())
  }

  /** Agents marked restart come back once the node is connected (spawning needs it). */
  async function respawnRemembered(): Promise<void> {
    const list = pendingRespawn
    pendingRespawn = []
    for (const rec of list) {
      if (broker?.listAgents().some((a) => a.name === rec.name && (a.status === 'running' || a.status === 'starting'))) continue
      try {
        await spawnAgent(rec, true)
        log('info', `respawned ${rec.name}`)
      } catch (err) {
        log('warn', `could not respawn ${rec.name}: ${(err as Error).message}`)
      }
    }
  }

  async function stopNode(): Promise<void> {
    stopping = true
    try {
      userStream?.stop()
      userStream = undefined
      // SIGTERM → SIGKILL after 2 s for every agent's tree, node.deregister, socket closed.
      await broker?.stop()
      broker = undefined
      await engine?.close('app is quitting')
      engine = undefined
    } finally {
      stopping = false
    }
  }

  async function stop(): Promise<void> {
    loopDelay.disable()
    if (statusTimer) clearTimeout(statusTimer)
    if (idleTimer) clearInterval(idleTimer)
    idleTimer = undefined
    await stopNode()
    await review.close()
    feedFile.flush()
  }

  async function restartNode(): Promise<void> {
    await stopNode()
    lastStatus.clear()
    emit('node.status', status())
    await start()
    for (const a of agents()) emit('agent.changed', a)
    emit('settings.changed', settingsView())
  }

  function requireBroker(): Broker {
    if (!broker) throw new BrokerError('not_ready', startError ?? 'the node is still starting')
    return broker
  }

  async function spawnAgent(rec: Omit<AgentRecord, 'createdAt'>, resume: boolean, worktree?: { branch?: string; root?: string }): Promise<AgentInfo> {
    const b = requireBroker()
    if (worktree && b.listAgents().some((a) => a.name === rec.name && (a.status === 'running' || a.status === 'starting'))) {
      throw new BrokerError('agent_exists', `${rec.name} is already running`)
    }
    attention.clear(rec.name)
    const prepared = worktree ? await review.prepareSpawn(rec.name, rec.cwd, worktree) : undefined
    const cwd = prepared?.cwd ?? rec.cwd
    let snap: AgentSnapshot
    try {
      snap = await b.spawn({ name: rec.name, command: rec.command, args: resume ? resumeArgs(rec.command, rec.args) : rec.args, cwd })
    } catch (err) {
      // The worktree was made for this spawn only: nothing of the agent's is in it yet.
      if (prepared) await review.discardPrepared(prepared).catch((e: unknown) => log('warn', `could not remove ${prepared.worktree.path}: ${(e as Error).message}`))
      throw err
    }
    const book = prepared ? { ...rec, worktree: prepared.worktree } : rec
    agentBook.upsert({ ...book, cwd: snap.cwd, createdAt: agentBook.get(rec.name)?.createdAt || snap.startedAt })
    // The agent.changed events of the spawn went out before the record: other windows learn its worktree now.
    if (prepared) agentChanged(rec.name)
    review.watch(rec.name)
    const failed: string[] = []
    if (rec.channels.length) {
      const token = agentTokenOf(b, rec.name)
      for (const ch of rec.channels) {
        try {
          if (!token || !api) throw new Error('no agent token')
          await joinChannel(api, token, ch)
        } catch (err) {
          failed.push(`#${ch}`)
          log('warn', `${rec.name} could not join #${ch}: ${(err as Error).message}`)
        }
      }
    }
    const info = decorate(snap)
    const problems = [...(failed.length ? [`could not join ${failed.join(', ')}`] : []), ...(prepared?.warnings ?? [])]
    if (problems.length) info.error = problems.join('; ')
    return info
  }

  function detect(): CommandResult<'agents.detect'> {
    const clis: Array<{ name: string; path: string }> = []
    for (const name of KNOWN_AGENT_CLIS) {
      const path = resolveCommand(name, agentPath)
      if (path) clis.push({ name, path })
    }
    return { clis }
  }

  async function sendMessage(req: ParsedRequest<'messages.send'>): Promise<CommandResult<'messages.send'>> {
    if (!api || !userToken) throw new BrokerError('not_ready', startError ?? 'the node is still starting')
    const localId = `local_${++localIds}`
    const channel = req.to.startsWith('#') ? req.to : undefined
    const base = { from: userName, to: req.to, text: req.text, direction: 'out' as const }
    const placeholder = feed.step(localId, base, 'sending', Date.now())
    if (channel) placeholder.channel = channel
    emit('message.changed', placeholder)
    try {
      const engineId = channel ? await postToChannel(api, userToken, channel, req.text) : (await api.sendDm(userToken, { to: req.to, text: req.text })).message.id
      const msg = feed.rename(localId, engineId) ?? feed.step(engineId, base, 'sent', Date.now())
      if (channel) msg.channel = channel
      const sent = feed.step(msg.id, base, 'sent', Date.now())
      const out = { ...sent, replaces: localId }
      emit('message.changed', out)
      feedFile.touch()
      return out
    } catch (err) {
      feed.remove(localId)
      emit('message.changed', { ...base, id: localId, state: 'failed', steps: [], error: (err as Error).message, ...(channel ? { channel } : {}) })
      if (err instanceof EngineApiError && err.status === 404 && !channel) {
        throw new BrokerError('recipient_not_found', `no agent named "${req.to}" in this workspace`)
      }
      throw err
    }
  }

  async function setSettings(req: ParsedRequest<'settings.set'>): Promise<SettingsView> {
    const next: Settings = { ...settings, notifications: { ...settings.notifications, ...req.notifications } }
    if (req.engine?.mode === 'embedded') next.engine = { mode: 'embedded' }
    if (req.engine?.mode === 'remote') {
      const hasKey = req.engine.workspaceKey !== undefined || settingsStore.loadRemoteKey() !== undefined || (settings.engine.mode === 'remote' && settings.engine.workspaceKey)
      if (!hasKey) throw new BrokerError('invalid_request', 'a remote engine needs its workspace key (rk_…)')
      if (req.engine.workspaceKey !== undefined) settingsStore.saveRemoteKey(req.engine.workspaceKey)
      // The key moves out of settings.json into secrets/ (wrapped where possible).
      const legacyKey = settings.engine.mode === 'remote' ? settings.engine.workspaceKey : undefined
      if (legacyKey && req.engine.workspaceKey === undefined) settingsStore.saveRemoteKey(legacyKey)
      next.engine = { mode: 'remote', url: req.engine.url }
    }
    if (req.nodeName !== undefined) next.nodeName = req.nodeName || undefined
    if (req.startAtLogin !== undefined) {
      if (req.startAtLogin !== settings.startAtLogin) {
        if (!platform.applyStartAtLogin) throw new BrokerError('unsupported', 'start at login is only available in the desktop app')
        await platform.applyStartAtLogin(req.startAtLogin)
      }
      next.startAtLogin = req.startAtLogin
    }
    if (req.closeToTray !== undefined) next.closeToTray = req.closeToTray
    if (req.skipPermissionPrompts !== undefined) next.skipPermissionPrompts = req.skipPermissionPrompts
    settingsStore.save(next)
    settings = next
    const view = settingsView()
    emit('settings.changed', view)
    return view
  }

  function appInfo(): AppInfo {
    return {
      mode: platform.mode,
      platform: process.platform,
      version: options.appVersion ?? '0.1.0',
      canPickDirectory: Boolean(platform.pickDirectory),
      canStartAtLogin: Boolean(platform.applyStartAtLogin),
      nativeNotifications: Boolean(platform.nativeNotifications),
      dataDir: options.dataDir,
      homeDir: homedir(),
    }
  }

  const handlers: { [C in CommandName]: (req: ParsedRequest<C>) => Promise<CommandResult<C>> | CommandResult<C> } = {
    'node.status': () => status(),
    'node.reconnect': () => {
      requireBroker().reconnect()
      return { ok: true as const }
    },
    'node.restart': async () => {
      await restartNode()
      return { ok: true as const }
    },
    'agents.list': () => agents(),
    'agents.detect': () => detect(),
    'agents.spawn': (req) =>
      spawnAgent({ name: req.name, command: req.command, args: req.args, cwd: req.cwd ?? '', channels: req.channels, restart: req.restart }, false, req.worktree),
    'agents.start': (req) => {
      const rec = agentBook.get(req.name) ?? broker?.listAgents().find((a) => a.name === req.name)
      if (!rec) throw new BrokerError('agent_not_found', `no agent named "${req.name}"`)
      const r = rec as Partial<AgentRecord> & AgentSnapshot
      return spawnAgent(
        { name: r.name, command: r.command, args: r.args, cwd: r.cwd, channels: r.channels ?? [], restart: r.restart ?? false, ...(r.worktree ? { worktree: r.worktree } : {}) },
        true,
      )
    },
    'agents.stop': async (req) => {
      const action = req.worktree ?? 'keep'
      // Refused before anything stops when it would delete uncommitted work unasked.
      await review.checkStop(req.name, action, req.discardChanges === true)
      userStopped.add(req.name)
      attention.clear(req.name)
      try {
        await requireBroker().release(req.name)
      } catch (err) {
        userStopped.delete(req.name)
        throw err
      }
      if ((await review.afterStop(req.name, action, req.discardChanges === true)) === 'removed') {
        const rec = agentBook.get(req.name)
        // The agent's folder is gone: remembered, it could not start again there.
        if (rec) agentBook.upsert({ ...rec, restart: false, worktree: undefined, cwd: rec.worktree?.repoRoot ?? rec.cwd })
        agentChanged(req.name)
      }
      return { ok: true as const }
    },
    'worktree.inspect': (req) => review.inspect(req),
    'worktree.status': (req) => review.status(req.name),
    'diff.get': (req) => review.diff(req.name),
    'review.comment': (req) => review.comment(req),
    'agents.remove': (req) => {
      const live = broker?.listAgents().find((a) => a.name === req.name)
      if (live && (live.status === 'running' || live.status === 'starting')) {
        throw new BrokerError('agent_running', `${req.name} is still running: stop it first`)
      }
      const known = agentBook.remove(req.name)
      if (live) broker?.remove(req.name)
      else if (known) emit('agent.removed', { name: req.name })
      else throw new BrokerError('agent_not_found', `no agent named "${req.name}"`)
      attention.clear(req.name)
      attention.forget(req.name)
      return { ok: true as const }
    },
    'terminal.write': (req) => {
      requireBroker().writeUser(req.name, req.data)
      return { ok: true as const }
    },
    'terminal.resize': (req) => {
      requireBroker().resize(req.name, req.cols, req.rows)
      return { ok: true as const }
    },
    'terminal.snapshot': (req) => ({ data: scrollbackOf(req.name) }),
    'terminal.subscribe': () => {
      throw new BrokerError('unsupported', 'terminal.subscribe belongs to a connection (a window or the headless socket)')
    },
    'terminal.unsubscribe': () => {
      throw new BrokerError('unsupported', 'terminal.unsubscribe belongs to a connection (a window or the headless socket)')
    },
    'terminal.ack': () => {
      throw new BrokerError('unsupported', 'terminal.ack belongs to a connection (a window or the headless socket)')
    },
    'messages.list': () => feed.list(),
    'messages.send': (req) => sendMessage(req),
    'settings.get': () => settingsView(),
    'settings.set': (req) => setSettings(req),
    'app.info': () => appInfo(),
    'dialog.pickDirectory': async (req) => {
      if (!platform.pickDirectory) throw new BrokerError('unsupported', 'no folder picker here: type the path')
      return { path: await platform.pickDirectory(req.defaultPath) }
    },
    'ui.viewing': (req) => {
      viewing = { agent: req.agent, focused: req.focused }
      if (req.focused) {
        const changed = req.agent !== null && attention.clear(req.agent)
        if (changed && req.agent) agentChanged(req.agent)
        if (userUnread) {
          userUnread = 0
          emit('node.status', status())
        }
      }
      return { ok: true as const }
    },
    'debug.metrics': () => {
      const cpu = process.cpuUsage()
      const mem = process.memoryUsage()
      loopDelay.disable()
      const delay = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6 }
      loopDelay.reset()
      loopDelay.enable()
      const elu = performance.eventLoopUtilization()
      const utilization = performance.eventLoopUtilization(elu, lastElu).utilization
      lastElu = elu
      return {
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        heapUsed: mem.heapUsed,
        rss: mem.rss,
        uptimeMs: Math.round(process.uptime() * 1000),
        loopDelayP50Ms: Math.round(delay.p50 * 100) / 100,
        loopDelayP99Ms: Math.round(delay.p99 * 100) / 100,
        loopUtilization: Math.round(utilization * 1000) / 1000,
      }
    },
  }

  function scrollbackOf(name: string): string {
    // A remembered agent not started in this run has no scrollback yet.
    if (!broker?.hasAgent(name) && agentBook.get(name)) return ''
    return requireBroker().scrollback(name)
  }

  function connect(send: (batch: EventBatch) => void): HostConnection {
    return new HostConnection({ invoke, scrollback: scrollbackOf, flow, send })
  }

  async function invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>> {
    if (!isCommandName(command)) return { ok: false, error: { code: 'unknown_command', message: `unknown command: ${command}` } }
    const parsed = parseRequest(command, request)
    if (!parsed.ok) return parsed
    try {
      const handler = handlers[command] as (req: unknown) => Promise<unknown> | unknown
      const result = await handler(parsed.value)
      return { ok: true, result } as CommandOutcome<CommandName>
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'internal_error'
      if (code === 'internal_error') log('error', `${command} failed: ${(err as Error).stack ?? err}`)
      return { ok: false, error: { code, message: (err as Error).message } }
    }
  }

  return {
    start,
    stop,
    invoke,
    onEvent(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    status,
    agents,
    settings: settingsView,
    broadcast: (event, payload) => emit(event, payload),
    connect,
  }
}
