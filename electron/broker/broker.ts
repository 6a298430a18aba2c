/**
 * The broker core: one node of a relay workspace. Composes the node identity and
 * token, the node socket, the delivery book, and one PTY runtime + injector per agent.
 * It emits typed events for every state change and never touches UI.
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { homedir } from 'node:os'
import { DELIVERY_CURSOR_CAPABILITY, type Capability, type DeliverFrame, type InventoryAgent } from '../../shared/wire'
import { AgentRuntime, resolveCommand, type AgentExit } from './agent-runtime'
import { DeliveryBook } from './delivery-book'
import { classifyPayload, extractFields, payloadType } from './delivery-payload'
import { EngineApi } from './engine-api'
import {
  deleteCachedToken,
  resolveIdentity,
  resolveNodeToken,
  saveCachedToken,
  tokenDirOf,
  type NodeIdentity,
  type TokenScope,
} from './identity'
import { cliName, formatInjection, profileFor, ReminderPolicy } from './injection-format'
import { Injector, type InjectorOptions } from './injector'
import { NodeClient, nodeControlWsUrl, type ConnectionState, type NodeClientOptions } from './node-client'

export const BROKER_VERSION = 'relay-desktop/0.1.0'
export const KNOWN_AGENT_CLIS = ['claude', 'codex', 'gemini', 'aider', 'opencode', 'goose', 'cursor-agent', 'droid']

export type AgentState = 'starting' | 'running' | 'exited' | 'failed'

export interface AgentSnapshot {
  name: string
  command: string
  args: string[]
  cwd: string
  status: AgentState
  pid?: number
  agentId?: string
  exitCode?: number | null
  error?: string
  startedAt: number
  pendingInjections: number
}

export type DeliveryStepState = 'received' | 'queued' | 'typed' | 'verified' | 'acked' | 'failed'

export interface DeliveryStep {
  msgId: string
  deliveryId: string
  agent: string
  from: string
  text: string
  seq: number
  state: DeliveryStepState
  at: number
  detail?: string
}

export type BrokerEvent =
  | { type: 'node.state'; state: ConnectionState; detail?: string }
  | { type: 'node.heartbeat'; at: number }
  | { type: 'agent.state'; agent: AgentSnapshot }
  | { type: 'agent.output'; name: string; data: string }
  | { type: 'agent.removed'; name: string }
  | { type: 'delivery'; step: DeliveryStep }

export interface BrokerOptions {
  baseUrl: string
  workspaceKey: string
  workspaceId: string
  workspaceLabel?: string
  /** Holds machine-id and node-tokens/. */
  stateDir: string
  nodeName?: string
  env?: NodeJS.ProcessEnv
  cwd?: () => string
  /** Extra environment for every agent (e.g. PATH with the `relay` command). */
  agentEnv?: Record<string, string>
  injector?: InjectorOptions
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void
  /** Test seam for timing; production uses the defaults. */
  nodeClient?: Partial<Pick<NodeClientOptions, 'heartbeatIntervalMs' | 'initialReconnectDelayMs' | 'maxReconnectDelayMs' | 'registerTimeoutMs' | 'readIdleTimeoutMs'>>
}

export interface SpawnRequest {
  name: string
  command: string
  args?: string[]
  cwd?: string
}

export class BrokerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'BrokerError'
  }
}

interface AgentEntry {
  snapshot: AgentSnapshot
  runtime?: AgentRuntime
  injector?: Injector
  reminders: ReminderPolicy
  token?: string
}

export function detectAgentClis(path = process.env.PATH ?? ''): string[] {
  return KNOWN_AGENT_CLIS.filter((cli) => resolveCommand(cli, path) !== undefined)
}

export class Broker {
  readonly identity: NodeIdentity
  readonly api: EngineApi
  private readonly book = new DeliveryBook()
  private readonly agents = new Map<string, AgentEntry>()
  private readonly listeners = new Set<(e: BrokerEvent) => void>()
  private readonly client: NodeClient
  private readonly scope: TokenScope
  private readonly log: NonNullable<BrokerOptions['log']>
  private nodeState: ConnectionState = 'idle'
  private nodeDetail: string | undefined
  private lastHeartbeatAt: number | undefined
  private stopped = false

  constructor(private readonly opts: BrokerOptions) {
    this.log = opts.log ?? (() => undefined)
    this.identity = resolveIdentity({ stateDir: opts.stateDir, env: opts.env, cwd: opts.cwd, name: opts.nodeName })
    this.api = new EngineApi({ baseUrl: opts.baseUrl })
    this.scope = { nodeId: this.identity.nodeId, workspaceId: opts.workspaceId, baseUrl: opts.baseUrl }
    const capabilities: Capability[] = [
      ...detectAgentClis(opts.env?.PATH ?? process.env.PATH).map((cli) => ({
        name: `spawn:${cli}`,
        kind: 'spawn',
        metadata: { agent: cli },
      })),
      { name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' },
    ]
    this.client = new NodeClient(
      {
        wsUrl: nodeControlWsUrl(opts.baseUrl),
        registration: {
          name: this.identity.nodeName,
          nodeId: this.identity.nodeId,
          capabilities,
          maxAgents: 0,
          tags: [process.platform, process.arch],
          version: BROKER_VERSION,
        },
        pinned: Boolean(this.identity.pinnedToken),
        remint: this.identity.pinnedToken ? undefined : () => this.mint(true),
        load: () => ({ activeAgents: this.liveAgents().length, maxAgents: 0, handlersLive: false }),
        inventory: () => this.inventory(),
        log: this.log,
        ...opts.nodeClient,
      },
      {
        state: (state, detail) => {
          this.nodeState = state
          this.nodeDetail = detail
          this.emit({ type: 'node.state', state, detail })
        },
        deliver: (frame) => this.onDeliver(frame),
        actionInvoke: (frame) => {
          // Placement of spawns onto this node is a later issue; answer faithfully meanwhile.
          this.client.send({ type: 'action.result', v: 1, invocation_id: frame.invocation_id, error: 'action_not_supported' })
        },
        heartbeatSent: (at) => {
          this.lastHeartbeatAt = at
          this.emit({ type: 'node.heartbeat', at })
        },
      },
    )
  }

  on(listener: (e: BrokerEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private emit(e: BrokerEvent): void {
    for (const l of this.listeners) {
      try {
        l(e)
      } catch (err) {
        this.log('error', `broker listener failed: ${(err as Error).message}`)
      }
    }
  }

  get state(): { state: ConnectionState; detail?: string; lastHeartbeatAt?: number } {
    return { state: this.nodeState, detail: this.nodeDetail, lastHeartbeatAt: this.lastHeartbeatAt }
  }

  get tokenDir(): string {
    return tokenDirOf(this.opts.stateDir)
  }

  private async mint(afterRejection = false): Promise<string> {
    if (afterRejection) deleteCachedToken(this.tokenDir, this.identity.nodeId)
    const created = await this.api.createNode(this.opts.workspaceKey, {
      node_id: this.identity.nodeId,
      name: this.identity.nodeName,
      kind: 'ws',
      role: 'broker',
      version: BROKER_VERSION,
    })
    const token = created.token.trim()
    if (!token) throw new Error('engine returned an empty node token')
    try {
      saveCachedToken(this.tokenDir, this.scope, token)
    } catch (err) {
      this.log('warn', `could not persist node token: ${(err as Error).message}`)
    }
    return token
  }

  /** Resolve the node token (env > cache > mint) and connect. A failed mint is retried by the client. */
  async start(): Promise<void> {
    try {
      const { token, source } = await resolveNodeToken({
        identity: this.identity,
        scope: this.scope,
        tokenDir: this.tokenDir,
        mint: () => this.mint(false),
        warn: (m) => this.log('warn', m),
      })
      this.log('info', `node token from ${source}`)
      this.client.setToken(token)
    } catch (err) {
      this.log('error', `NO NODE TOKEN yet (${(err as Error).message}); will keep trying`)
    }
    this.client.start()
  }

  reconnect(): void {
    this.client.reconnectNow()
  }

  liveAgents(): AgentSnapshot[] {
    return [...this.agents.values()].filter((a) => a.runtime?.alive).map((a) => this.snapshotOf(a))
  }

  listAgents(): AgentSnapshot[] {
    return [...this.agents.values()].map((a) => this.snapshotOf(a))
  }

  private snapshotOf(a: AgentEntry): AgentSnapshot {
    return { ...a.snapshot, pendingInjections: a.injector?.pending ?? 0 }
  }

  private inventory(): InventoryAgent[] {
    const out: InventoryAgent[] = []
    for (const a of this.agents.values()) {
      if (a.runtime?.alive && a.snapshot.agentId) out.push({ agent_id: a.snapshot.agentId, name: a.snapshot.name })
    }
    return out
  }

  private changed(a: AgentEntry): void {
    this.emit({ type: 'agent.state', agent: this.snapshotOf(a) })
  }

  async spawn(req: SpawnRequest): Promise<AgentSnapshot> {
    if (this.stopped) throw new BrokerError('broker_stopped', 'the broker is shutting down')
    const existing = this.agents.get(req.name)
    if (existing?.runtime?.alive || existing?.snapshot.status === 'starting') {
      throw new BrokerError('name_taken', `an agent named "${req.name}" is already running`)
    }
    const cwd = req.cwd?.trim() || homedir()
    const baseEnv = { ...process.env, ...this.opts.env, ...this.opts.agentEnv }
    const resolved = resolveCommand(req.command, baseEnv.PATH ?? '', cwd)
    if (!resolved) throw new BrokerError('command_not_found', `command not found: ${req.command}`)
    if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
      throw new BrokerError('cwd_missing', `working directory does not exist: ${cwd}`)
    }
    if (this.nodeState !== 'connected') {
      throw new BrokerError('not_connected', `not connected to the engine${this.nodeDetail ? `: ${this.nodeDetail}` : ''}`)
    }
    const entry: AgentEntry = {
      snapshot: {
        name: req.name,
        command: req.command,
        args: req.args ?? [],
        cwd,
        status: 'starting',
        startedAt: Date.now(),
        pendingInjections: 0,
      },
      reminders: new ReminderPolicy(cliName(req.command)),
    }
    this.agents.set(req.name, entry)
    this.changed(entry)
    try {
      const reply = await this.client.registerAgent(req.name)
      entry.snapshot.agentId = reply.agent_id
      entry.token = reply.token
      // A restarted broker or a respawned name continues from the engine's cursor.
      this.book.forget(req.name)
      if (reply.delivery_ack_seq !== undefined) this.book.seed(req.name, reply.delivery_ack_seq)
    } catch (err) {
      entry.snapshot.status = 'failed'
      entry.snapshot.error = (err as Error).message
      this.changed(entry)
      throw new BrokerError((err as { code?: string }).code ?? 'register_failed', `could not register ${req.name}: ${(err as Error).message}`)
    }
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined && k !== 'CLAUDECODE') env[k] = v
    Object.assign(env, {
      RELAY_BASE_URL: this.opts.baseUrl,
      RELAY_AGENT_NAME: req.name,
      RELAY_AGENT_TOKEN: entry.token ?? '',
      RELAY_AGENT_TYPE: 'agent',
      RELAY_STRICT_AGENT_NAME: '1',
      RELAY_WORKSPACE_ID: this.opts.workspaceId,
      RELAY_DEFAULT_WORKSPACE: this.opts.workspaceId,
      TERM: 'xterm-256color',
    })
    try {
      const runtime = new AgentRuntime(
        { name: req.name, command: resolved, args: req.args ?? [], cwd, env },
        {
          onData: (d) => {
            entry.injector?.feed(d)
            entry.reminders.noteOutput(d.length)
          },
          onOutput: (d) => this.emit({ type: 'agent.output', name: req.name, data: d }),
          onExit: (exit) => this.onAgentExit(entry, exit),
        },
      )
      entry.runtime = runtime
      entry.injector = new Injector(runtime, this.opts.injector)
      entry.snapshot.pid = runtime.pid
      entry.snapshot.status = 'running'
    } catch (err) {
      entry.snapshot.status = 'failed'
      entry.snapshot.error = `could not start ${req.command}: ${(err as Error).message}`
      this.deregister(entry)
      this.changed(entry)
      throw new BrokerError('spawn_failed', entry.snapshot.error)
    }
    this.changed(entry)
    this.client.syncInventory()
    this.client.heartbeatNow()
    return this.snapshotOf(entry)
  }

  private deregister(entry: AgentEntry): void {
    if (entry.snapshot.agentId) {
      this.client.send({ type: 'agent.deregister', v: 1, agent_id: entry.snapshot.agentId, name: entry.snapshot.name })
    }
  }

  private onAgentExit(entry: AgentEntry, exit: AgentExit): void {
    entry.snapshot.status = 'exited'
    entry.snapshot.exitCode = exit.exitCode
    this.book.forget(entry.snapshot.name)
    // v5 sent nothing on exit (§8 #41); the engine should stop routing to a dead agent.
    this.deregister(entry)
    this.changed(entry)
    this.client.heartbeatNow()
  }

  /** Stop an agent's process tree; keeps its entry (exited) so its terminal stays readable. */
  async release(name: string): Promise<void> {
    const entry = this.agents.get(name)
    if (!entry) throw new BrokerError('agent_not_found', `no agent named "${name}"`)
    if (entry.runtime?.alive) await entry.runtime.stop()
  }

  /** Forget an exited agent entirely. */
  remove(name: string): void {
    const entry = this.agents.get(name)
    if (!entry || entry.runtime?.alive) return
    this.agents.delete(name)
    this.emit({ type: 'agent.removed', name })
  }

  writeUser(name: string, data: string): void {
    const entry = this.runningEntry(name)
    entry.runtime?.writeUser(data)
    entry.injector?.userTyped()
  }

  resize(name: string, cols: number, rows: number): void {
    this.runningEntry(name).runtime?.resize(cols, rows)
  }

  scrollback(name: string): string {
    const entry = this.agents.get(name)
    if (!entry) throw new BrokerError('agent_not_found', `no agent named "${name}"`)
    // Bytes in the scrollback must already have gone out as output events, or a
    // terminal opened now would show them twice (snapshot, then the late event).
    entry.runtime?.flush()
    return entry.runtime?.scrollback.text() ?? ''
  }

  private runningEntry(name: string): AgentEntry {
    const entry = this.agents.get(name)
    if (!entry) throw new BrokerError('agent_not_found', `no agent named "${name}"`)
    if (!entry.runtime?.alive) throw new BrokerError('agent_exited', `agent "${name}" is not running`)
    return entry
  }

  // ---- delivery ------------------------------------------------------------

  private step(frame: DeliverFrame, from: string, text: string, state: DeliveryStepState, detail?: string): void {
    this.emit({
      type: 'delivery',
      step: { msgId: frame.msg_id, deliveryId: frame.delivery_id, agent: frame.agent, from, text, seq: frame.seq, state, at: Date.now(), detail },
    })
  }

  private ack(agent: string, upTo: number): boolean {
    return this.client.send({ type: 'delivery.ack', v: 1, agent, up_to_seq: upTo })
  }

  private onDeliver(frame: DeliverFrame): void {
    const fields = extractFields(frame.payload, frame.agent)
    const cls = classifyPayload(frame.payload)
    const decision = this.book.accept(frame.agent, frame.seq, frame.msg_id)
    if (decision.kind !== 'deliver') {
      // Re-ack what we already have; a gap is held for the engine to fill in order.
      this.ack(frame.agent, decision.cursor)
      this.log('debug', `deliver ${frame.msg_id} seq ${frame.seq} for ${frame.agent}: ${decision.kind}`)
      return
    }
    if (cls !== 'inject') {
      if (cls === 'unknown') this.log('warn', `acking deliver of unknown type "${payloadType(frame.payload)}" without typing it`)
      this.ack(frame.agent, this.book.commit(frame.agent, frame.seq, frame.msg_id))
      return
    }
    this.step(frame, fields.from, fields.body, 'received')
    const entry = this.agents.get(frame.agent)
    if (!entry?.runtime?.alive || !entry.injector) {
      // Not hosted here (or dead): withhold the ack so the engine keeps it for a live location.
      this.book.release(frame.agent, frame.seq, frame.msg_id)
      this.step(frame, fields.from, fields.body, 'failed', `agent ${frame.agent} is not running on this node`)
      return
    }
    const profile = profileFor(entry.snapshot.command)
    const text = formatInjection(
      profile,
      fields,
      {
        eventId: frame.msg_id,
        workspaceLabel: this.opts.workspaceLabel ?? this.opts.workspaceId,
        agentName: frame.agent,
        preRegistered: Boolean(entry.token),
      },
      entry.reminders,
    )
    this.step(frame, fields.from, fields.body, 'queued')
    this.changed(entry)
    entry.injector
      .inject({
        text,
        mode: frame.mode,
        onQueued: (why) => this.step(frame, fields.from, fields.body, 'queued', why),
        onTyped: () => this.step(frame, fields.from, fields.body, 'typed'),
      })
      .then((verification) => {
        this.step(frame, fields.from, fields.body, 'verified', verification)
        const cursor = this.book.commit(frame.agent, frame.seq, frame.msg_id)
        const sent = this.ack(frame.agent, cursor)
        this.step(frame, fields.from, fields.body, 'acked', sent ? undefined : 'ack will be re-sent when the engine redelivers')
        this.changed(entry)
      })
      .catch((err: Error) => {
        this.book.release(frame.agent, frame.seq, frame.msg_id)
        this.step(frame, fields.from, fields.body, 'failed', `could not type into ${frame.agent}: ${err.message}`)
        this.changed(entry)
      })
  }

  /** Stop every agent's process tree, tell the engine, close the socket. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    const running = [...this.agents.values()].filter((a) => a.runtime?.alive)
    await Promise.all(running.map((a) => a.runtime?.stop().catch(() => undefined)))
    this.client.send({ type: 'node.deregister', v: 1 })
    this.client.stop()
  }
}

export const defaultStateDir = (dataDir: string): string => join(dataDir, 'node')
