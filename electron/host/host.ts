/**
 * The host: one app instance. Composes the engine (embedded on 127.0.0.1 by default,
 * or a remote team engine from settings), the broker, settings and the feed, and
 * exposes the IPC contract. Electron main and the headless server both start one.
 */
import { userInfo } from 'node:os'
import { join } from 'node:path'
import {
  parseRequest,
  isCommandName,
  type AgentInfo,
  type CommandName,
  type CommandOutcome,
  type EventName,
  type NodeStatus,
  type ParsedRequest,
  type CommandResult,
} from '../../shared/ipc'
import { Broker, BrokerError, defaultStateDir, type AgentSnapshot, type BrokerEvent, type BrokerOptions } from '../broker'
import { EngineApi, EngineApiError } from '../broker'
import { startEngine, type RunningEngine } from '../engine'
import { FeedBook } from './feed'
import { SettingsStore, type EngineSettings } from './settings'

export type HostLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void

export interface HostOptions {
  dataDir: string
  /** Overrides settings.json (used by tests, the CLI flags and env). */
  engine?: EngineSettings
  nodeName?: string
  log?: HostLog
  /** Extra environment for agents (e.g. a PATH carrying the `relay` command). */
  agentEnv?: Record<string, string>
  broker?: Partial<Pick<BrokerOptions, 'injector' | 'nodeClient' | 'cwd' | 'env'>>
}

export interface Host {
  start(): Promise<void>
  stop(): Promise<void>
  invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>>
  onEvent(listener: (event: EventName, payload: unknown) => void): () => void
  status(): NodeStatus
  agents(): AgentInfo[]
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

const toAgentInfo = (a: AgentSnapshot): AgentInfo => ({ ...a })

export function createHost(options: HostOptions): Host {
  const log: HostLog = options.log ?? (() => undefined)
  const settingsStore = new SettingsStore(options.dataDir, (m) => log('warn', m))
  const settings = settingsStore.load()
  const engineSettings = options.engine ?? settings.engine
  const feed = new FeedBook()
  const listeners = new Set<(event: EventName, payload: unknown) => void>()
  let engine: RunningEngine | undefined
  let broker: Broker | undefined
  let api: EngineApi | undefined
  let engineUrl = engineSettings.mode === 'remote' ? engineSettings.url : ''
  let workspaceId: string | undefined
  let userName = defaultUserName()
  let userToken: string | undefined
  let startError: string | undefined
  let localIds = 0

  const emit = (event: EventName, payload: unknown) => {
    for (const l of listeners) l(event, payload)
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
    }
  }

  function onBrokerEvent(e: BrokerEvent): void {
    switch (e.type) {
      case 'node.state':
      case 'node.heartbeat':
        emit('node.status', status())
        return
      case 'agent.state':
        emit('agent.changed', toAgentInfo(e.agent))
        emit('node.status', status())
        return
      case 'agent.output':
        emit('terminal.output', { name: e.name, data: e.data })
        return
      case 'agent.removed':
        emit('agent.removed', { name: e.name })
        return
      case 'delivery': {
        const s = e.step
        const msg = feed.step(s.msgId, { from: s.from, to: s.agent, text: s.text, direction: 'in' }, s.state, s.at, s.detail)
        emit('message.changed', msg)
        return
      }
    }
  }

  async function bootstrapWorkspace(): Promise<{ key: string; id?: string; label: string }> {
    if (engineSettings.mode === 'remote') return { key: engineSettings.workspaceKey, label: 'team' }
    const saved = settingsStore.loadEmbeddedSecrets()
    if (saved) return { key: saved.workspaceKey, id: saved.workspaceId, label: 'local' }
    const created = await (api as EngineApi).createWorkspace('local')
    settingsStore.saveEmbeddedSecrets({ workspaceId: created.workspace_id, workspaceKey: created.api_key })
    return { key: created.api_key, id: created.workspace_id, label: 'local' }
  }

  async function start(): Promise<void> {
    try {
      if (engineSettings.mode === 'embedded') {
        engine = await startEngine({ port: 0, dataDir: join(options.dataDir, 'engine'), log: (l, m) => log(l, `engine: ${m}`) })
        engineUrl = engine.url
      }
      api = new EngineApi({ baseUrl: engineUrl })
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
        agentEnv: options.agentEnv,
        log,
        ...options.broker,
      })
      broker.on(onBrokerEvent)
      await broker.start()
    } catch (err) {
      startError =
        err instanceof EngineApiError ? `${err.message} (${err.code})` : `could not start: ${(err as Error).message}`
      log('error', startError)
    }
    emit('node.status', status())
  }

  async function stop(): Promise<void> {
    await broker?.stop()
    await engine?.close('app is quitting')
  }

  function requireBroker(): Broker {
    if (!broker) throw new BrokerError('not_ready', startError ?? 'the node is still starting')
    return broker
  }

  async function sendMessage(req: ParsedRequest<'messages.send'>): Promise<CommandResult<'messages.send'>> {
    if (!api || !userToken) throw new BrokerError('not_ready', startError ?? 'the node is still starting')
    const localId = `local_${++localIds}`
    const base = { from: userName, to: req.to, text: req.text, direction: 'out' as const }
    emit('message.changed', feed.step(localId, base, 'sending', Date.now()))
    try {
      const sent = await api.sendDm(userToken, { to: req.to, text: req.text })
      const msg = feed.rename(localId, sent.message.id) ?? feed.step(sent.message.id, base, 'sent', Date.now())
      emit('message.changed', feed.step(msg.id, base, 'sent', Date.now()))
      return feed.get(msg.id) ?? msg
    } catch (err) {
      feed.remove(localId)
      emit('message.changed', { ...base, id: localId, state: 'failed', steps: [], error: (err as Error).message })
      throw err
    }
  }

  const handlers: { [C in CommandName]: (req: ParsedRequest<C>) => Promise<CommandResult<C>> | CommandResult<C> } = {
    'node.status': () => status(),
    'node.reconnect': () => {
      requireBroker().reconnect()
      return { ok: true as const }
    },
    'agents.list': () => (broker?.listAgents() ?? []).map(toAgentInfo),
    'agents.spawn': async (req) => toAgentInfo(await requireBroker().spawn(req)),
    'agents.stop': async (req) => {
      await requireBroker().release(req.name)
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
    'terminal.snapshot': (req) => ({ data: requireBroker().scrollback(req.name) }),
    'messages.list': () => feed.list(),
    'messages.send': (req) => sendMessage(req),
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
    agents: () => (broker?.listAgents() ?? []).map(toAgentInfo),
  }
}
