/**
 * The broker core: one node of a relay workspace. Composes the node identity and
 * token, the node socket, the delivery book, and one PTY runtime + injector per agent.
 * It emits typed events for every state change and never touches UI.
 */
import { randomUUID } from 'node:crypto'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { homedir } from 'node:os'
import {
  DELIVERY_CURSOR_CAPABILITY,
  type ActionInvokeFrame,
  type Capability,
  type DeliverFrame,
  type InventoryAgent,
} from '../../shared/wire'
import type { AgentPermissions } from '../agent-tools/launch'
import { prepareAgentLaunch, TOOLS_READY_TIMEOUT_MS } from './agent-launch'
import { AgentRuntime, resolveCommand, type AgentExit } from './agent-runtime'
import {
  ActionBook,
  ActionError,
  handlerCapability,
  resolveReleaseInput,
  resolveSpawnInput,
  type ActionHandler,
  type ActionOutcome,
} from './actions'
import { CursorStore } from './cursor-store'
import { DeliveryBook } from './delivery-book'
import { classifyPayload, extractFields, payloadType, type DeliveryFields } from './delivery-payload'
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
import { cliName, formatInjection, profileFor, ReminderPolicy, sanitizeForTerminal, type InjectionProfile } from './injection-format'
import {
  AGENT_READINESS,
  ghostSuggestionVisible,
  InjectionCancelled,
  InjectionUnverified,
  Injector,
  type AutoEnterOptions,
  type InjectorOptions,
  type Readiness,
  type Verification,
} from './injector'
import { NodeClient, nodeControlWsUrl, type ConnectionState, type NodeClientOptions } from './node-client'
import { AgentScreen, classifierFor, typingProfileFor, type ScreenState } from './screen'

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
  /** Whether the program is ready for typed input (§5.2); injections wait until it is. */
  ready?: boolean
  /**
   * What the agent's screen shows, for CLIs Relay can read (screen/): starting, idle,
   * typing, busy, permission, dialog…, with the question a prompt asks. Absent for
   * other programs.
   */
  screen?: { state: ScreenState; detail?: string }
  /** The engine invocation that spawned it (action.invoke), if any. */
  invocationId?: string
  sessionRef?: string
  updatedAt?: number
}

export type DeliveryStepState = 'received' | 'queued' | 'typed' | 'verified' | 'acked' | 'failed'

export interface DeliveryStep {
  msgId: string
  deliveryId: string
  agent: string
  from: string
  text: string
  /** `#channel` for a channel message, else the recipient (a DM). */
  target: string
  seq: number
  state: DeliveryStepState
  at: number
  detail?: string
  /** typed: exactly what went into the PTY (after sanitising), and the keys around it. */
  injected?: string
  preKeys?: string
  /** verified: how (echo seen, or the timeout fallback, §5.5). */
  verification?: Verification
  mode?: 'wait' | 'steer'
}

export type ActionState = 'received' | 'completed' | 'failed' | 'replayed'

export interface ActionStep {
  invocationId: string
  action: string
  state: ActionState
  at: number
  output?: unknown
  error?: string
}

export type BrokerEvent =
  | { type: 'node.state'; state: ConnectionState; detail?: string; at?: number }
  | { type: 'node.heartbeat'; at: number }
  | { type: 'node.error'; code: string; message: string; at: number }
  | { type: 'agent.state'; agent: AgentSnapshot; at?: number }
  | { type: 'action'; step: ActionStep }
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
  /** Which tool calls agent CLIs run without asking, read at each spawn (agent-tools/launch). */
  agentPermissions?: () => AgentPermissions
  injector?: InjectorOptions
  /** When each kind of program is ready for input (§5.2); defaults: agent CLIs wait, others don't. */
  readiness?: Partial<Record<InjectionProfile, Readiness>>
  /** Auto-enter for agent CLIs (§5.6); false turns it off. */
  autoEnter?: Partial<AutoEnterOptions> | false
  /** Delivery cursors file; default `<stateDir>/cursors.json`. */
  cursorFile?: string
  cursorFlushMs?: number
  /** An action spawn is reported spawned only if the process is still alive this long after start (§8 #42). */
  spawnSettleMs?: number
  maxAgents?: number
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void
  /** Test seam for timing; production uses the defaults. */
  nodeClient?: Partial<
    Pick<
      NodeClientOptions,
      | 'heartbeatIntervalMs'
      | 'initialReconnectDelayMs'
      | 'maxReconnectDelayMs'
      | 'registerTimeoutMs'
      | 'readIdleTimeoutMs'
      | 'healthyConnectionMs'
      | 'pendingTtlMs'
      | 'random'
      | 'now'
    >
  >
}

export interface SpawnRequest {
  name: string
  command: string
  args?: string[]
  cwd?: string
  /** Typed into the agent once it is ready (as a message from `broker`). */
  task?: string
  /** Set by action.invoke spawns: sent in agent.register (§8 #21). */
  invocationId?: string
  sessionRef?: string
}

export const DEFAULT_SPAWN_SETTLE_MS = 300
/** The PTY size an agent starts with (the terminal view resizes it). */
export const AGENT_COLS = 100
export const AGENT_ROWS = 30

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
  /** The classified screen of a CLI Relay can read. */
  screen?: AgentScreen
  /** Set when the CLI has listed the relay's MCP tools (the first message waits for it). */
  toolsReady?: { done: Promise<boolean>; cancel: () => void }
  reminders: ReminderPolicy
  token?: string
  /** Bumped when a typing failure cancels what is queued behind it. */
  generation: number
  /** Deliveries that arrived between the agent.register reply and the process start. */
  early: DeliverFrame[]
}

export function detectAgentClis(path = process.env.PATH ?? ''): string[] {
  return KNOWN_AGENT_CLIS.filter((cli) => resolveCommand(cli, path) !== undefined)
}

/** The bootstrap manifest (§3.4.1): `spawn:<cli>` for each agent CLI on PATH, never a bare `spawn`. */
export function bootstrapCapabilities(path?: string): Capability[] {
  return [
    ...detectAgentClis(path).map((cli) => ({ name: `spawn:${cli}`, kind: 'spawn', metadata: { agent: cli } })),
    { name: 'release', kind: 'capacity' },
    { name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' },
  ]
}

const READINESS_DEFAULTS: Record<InjectionProfile, Readiness> = {
  agent: AGENT_READINESS,
  plain: 'immediate',
  shell: 'immediate',
}

export class Broker {
  readonly identity: NodeIdentity
  readonly api: EngineApi
  readonly cursors: CursorStore
  private readonly book = new DeliveryBook()
  private readonly agents = new Map<string, AgentEntry>()
  private readonly listeners = new Set<(e: BrokerEvent) => void>()
  private readonly client: NodeClient
  private readonly scope: TokenScope
  private readonly log: NonNullable<BrokerOptions['log']>
  private readonly actions = new ActionBook()
  private readonly handlers = new Map<string, ActionHandler>()
  private readonly baseCapabilities: Capability[]
  private nodeState: ConnectionState = 'idle'
  private nodeDetail: string | undefined
  private lastHeartbeatAt: number | undefined
  private stopped = false

  constructor(private readonly opts: BrokerOptions) {
    this.log = opts.log ?? (() => undefined)
    this.identity = resolveIdentity({ stateDir: opts.stateDir, env: opts.env, cwd: opts.cwd, name: opts.nodeName })
    this.api = new EngineApi({ baseUrl: opts.baseUrl })
    this.scope = { nodeId: this.identity.nodeId, workspaceId: opts.workspaceId, baseUrl: opts.baseUrl }
    this.cursors = new CursorStore(opts.cursorFile ?? join(opts.stateDir, 'cursors.json'), opts.cursorFlushMs, (m) =>
      this.log('warn', m),
    )
    this.baseCapabilities = bootstrapCapabilities(opts.env?.PATH ?? process.env.PATH)
    this.client = new NodeClient(
      {
        wsUrl: nodeControlWsUrl(opts.baseUrl),
        registration: {
          name: this.identity.nodeName,
          nodeId: this.identity.nodeId,
          capabilities: this.baseCapabilities,
          maxAgents: opts.maxAgents ?? 0,
          tags: [process.platform, process.arch],
          version: BROKER_VERSION,
        },
        pinned: Boolean(this.identity.pinnedToken),
        remint: this.identity.pinnedToken ? undefined : () => this.mint(true),
        load: () => ({ activeAgents: this.liveAgents().length, maxAgents: opts.maxAgents ?? 0, handlersLive: this.handlers.size > 0 }),
        inventory: () => this.inventory(),
        log: this.log,
        ...opts.nodeClient,
      },
      {
        state: (state, detail) => {
          this.nodeState = state
          this.nodeDetail = detail
          this.emit({ type: 'node.state', state, detail, at: Date.now() })
        },
        connected: () => this.onConnected(),
        deliver: (frame) => this.onDeliver(frame),
        actionInvoke: (frame) => void this.onActionInvoke(frame),
        heartbeatSent: (at) => {
          this.lastHeartbeatAt = at
          this.emit({ type: 'node.heartbeat', at })
        },
        engineError: (code, message) => this.emit({ type: 'node.error', code, message, at: Date.now() }),
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

  /** The manifest this node advertises (node.register). */
  get capabilities(): Capability[] {
    return this.client.registration.capabilities
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

  /** Whether this node hosts (or hosted) an agent of that name; cheap, for per-event checks. */
  hasAgent(name: string): boolean {
    return this.agents.has(name)
  }

  liveAgents(): AgentSnapshot[] {
    return [...this.agents.values()].filter((a) => a.runtime?.alive).map((a) => this.snapshotOf(a))
  }

  listAgents(): AgentSnapshot[] {
    return [...this.agents.values()].map((a) => this.snapshotOf(a))
  }

  private snapshotOf(a: AgentEntry): AgentSnapshot {
    const ready = a.screen ? a.screen.state !== 'starting' : (a.injector?.ready ?? false)
    return { ...a.snapshot, pendingInjections: a.injector?.pending ?? 0, ready }
  }

  private inventory(): InventoryAgent[] {
    const out: InventoryAgent[] = []
    for (const a of this.agents.values()) {
      if (!a.runtime?.alive || !a.snapshot.agentId) continue
      const item: InventoryAgent = { agent_id: a.snapshot.agentId, name: a.snapshot.name }
      if (a.snapshot.invocationId) item.invocation_id = a.snapshot.invocationId
      if (a.snapshot.sessionRef) item.session_ref = a.snapshot.sessionRef
      out.push(item)
    }
    return out
  }

  private changed(a: AgentEntry): void {
    a.snapshot.updatedAt = Date.now()
    this.emit({ type: 'agent.state', agent: this.snapshotOf(a), at: a.snapshot.updatedAt })
  }

  /** After every (re)connect: re-send each live agent's cursor, in case an ack was lost with the socket. */
  private onConnected(): void {
    for (const a of this.agents.values()) {
      if (!a.runtime?.alive) continue
      const c = this.book.cursor(a.snapshot.name)
      if (c) this.ack(a.snapshot.name, c)
    }
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
        invocationId: req.invocationId,
        sessionRef: req.sessionRef,
      },
      reminders: new ReminderPolicy(cliName(req.command)),
      generation: 0,
      early: [],
    }
    this.agents.set(req.name, entry)
    this.changed(entry)
    try {
      const reply = await this.client.registerAgent(req.name, { invocationId: req.invocationId, sessionRef: req.sessionRef })
      entry.snapshot.agentId = reply.agent_id
      entry.token = reply.token
      this.seedCursor(req.name, reply.agent_id, reply.delivery_ack_seq)
    } catch (err) {
      entry.snapshot.status = 'failed'
      entry.snapshot.error = (err as Error).message
      entry.early = []
      this.changed(entry)
      throw new BrokerError((err as { code?: string }).code ?? 'register_failed', `could not register ${req.name}: ${(err as Error).message}`)
    }
    const profile = profileFor(req.command)
    const cli = cliName(req.command)
    const launch = prepareAgentLaunch({
      name: req.name,
      command: req.command,
      token: entry.token,
      baseUrl: this.opts.baseUrl,
      workspaceId: this.opts.workspaceId,
      stateDir: this.opts.stateDir,
      baseEnv,
      permissions: this.opts.agentPermissions?.() ?? 'relay-tools',
      log: this.log,
    })
    const { env, args: launchArgs } = launch
    entry.toolsReady = launch.toolsReady
    const classifier = profile === 'agent' ? classifierFor(cli) : undefined
    if (classifier) {
      entry.screen = new AgentScreen(classifier, {
        cols: AGENT_COLS,
        rows: AGENT_ROWS,
        onState: (r) => {
          entry.snapshot.screen = r.detail ? { state: r.state, detail: r.detail } : { state: r.state }
          this.changed(entry)
        },
      })
      entry.snapshot.screen = { state: 'starting' }
    }
    try {
      const runtime = new AgentRuntime(
        { name: req.name, command: resolved, args: [...launchArgs, ...(req.args ?? [])], cwd, env, cols: AGENT_COLS, rows: AGENT_ROWS },
        {
          onData: (d) => {
            entry.screen?.feed(d)
            entry.injector?.feed(d)
            entry.reminders.noteOutput(d.length)
          },
          onOutput: (d) => this.emit({ type: 'agent.output', name: req.name, data: d }),
          onExit: (exit) => this.onAgentExit(entry, exit),
        },
      )
      entry.runtime = runtime
      entry.injector = new Injector(runtime, {
        // Byte-stream pacing, for programs whose screen Relay does not read.
        readiness: entry.screen ? undefined : (this.opts.readiness?.[profile] ?? READINESS_DEFAULTS[profile]),
        suggestionVisible: profile === 'agent' && !entry.screen ? ghostSuggestionVisible : undefined,
        autoEnter: profile === 'agent' && !entry.screen ? (this.opts.autoEnter ?? {}) : false,
        onReady: () => this.changed(entry),
        onAutoEnter: (n) => this.log('info', `auto-enter #${n} into ${req.name} (no reaction to the last message)`),
        screen: entry.screen,
        typing: typingProfileFor(cli),
        firstGate: entry.toolsReady
          ? {
              wait: entry.toolsReady.done.then((listed) => {
                if (!listed) this.log('warn', `${req.name}: its CLI did not list the relay tools within ${TOOLS_READY_TIMEOUT_MS / 1000} s; typing anyway`)
              }),
              reason: "waiting for the agent's relay tools to connect",
            }
          : undefined,
        // No ack without proof for agent CLIs; a plain program may not echo at all.
        ackUnverified: profile !== 'agent',
        ...this.opts.injector,
      })
      entry.snapshot.pid = runtime.pid
      entry.snapshot.status = 'running'
    } catch (err) {
      entry.screen?.close()
      entry.toolsReady?.cancel()
      entry.snapshot.status = 'failed'
      entry.snapshot.error = `could not start ${req.command}: ${(err as Error).message}`
      entry.early = [] // never acked: the engine keeps them
      this.deregister(entry)
      this.changed(entry)
      throw new BrokerError('spawn_failed', entry.snapshot.error)
    }
    this.changed(entry)
    // The engine sends an agent's mail right after its agent.register reply, often in the
    // same read as the reply: those frames waited for the process; hand them over now.
    for (const f of entry.early.splice(0)) this.onDeliver(f)
    this.client.syncInventory()
    this.client.heartbeatNow()
    if (req.task) this.typeTask(entry, req.task)
    return this.snapshotOf(entry)
  }

  /**
   * The engine's delivery_ack_seq, our persisted cursor for the same agent id, whichever is
   * further: a message typed here whose ack died with the socket is not typed again. With
   * neither, the first sequenced frame is adopted rather than held as a gap (§8 #35).
   */
  private seedCursor(name: string, agentId: string, engineAck: number | undefined): void {
    this.book.forget(name)
    const persisted = this.cursors.get(this.opts.workspaceId, name, agentId)
    const seed = Math.max(engineAck ?? -1, persisted ?? -1)
    if (seed >= 0) this.book.seed(name, seed)
    else this.book.adoptNext(name)
    if (persisted !== undefined && (engineAck === undefined || persisted > engineAck)) {
      this.log('info', `${name}: resuming from the local cursor ${persisted} (engine says ${engineAck ?? 'nothing'})`)
    }
  }

  /** The spawn's initial task, typed once the program is ready, like a message from `broker`. */
  private typeTask(entry: AgentEntry, task: string): void {
    const fields = { body: sanitizeForTerminal(task), from: 'broker', target: entry.snapshot.name }
    const text = sanitizeForTerminal(
      formatInjection(
        profileFor(entry.snapshot.command),
        fields,
        { eventId: `init_${randomUUID()}`, workspaceLabel: this.opts.workspaceLabel ?? this.opts.workspaceId, agentName: entry.snapshot.name, preRegistered: Boolean(entry.token) },
        entry.reminders,
      ),
    )
    entry.injector
      ?.inject({ text, mode: 'wait' })
      .catch((err: Error) => this.log('warn', `could not type the task into ${entry.snapshot.name}: ${err.message}`))
  }

  private deregister(entry: AgentEntry): void {
    if (entry.snapshot.agentId) {
      this.client.send({ type: 'agent.deregister', v: 1, agent_id: entry.snapshot.agentId, name: entry.snapshot.name })
    }
  }

  private onAgentExit(entry: AgentEntry, exit: AgentExit): void {
    entry.snapshot.status = 'exited'
    entry.snapshot.exitCode = exit.exitCode
    entry.injector?.close()
    entry.screen?.close()
    entry.toolsReady?.cancel()
    delete entry.snapshot.screen
    this.cursors.flush()
    if (this.agents.get(entry.snapshot.name) === entry) this.book.forget(entry.snapshot.name)
    // v5 sent nothing on exit (§8 #41); the engine should stop routing to a dead agent.
    this.deregister(entry)
    this.changed(entry)
    this.client.syncInventory()
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
    const entry = this.runningEntry(name)
    entry.runtime?.resize(cols, rows)
    entry.screen?.resize(cols, rows)
  }


  /** Flow control for a viewer that fell behind: stop (or go back to) reading the agent's PTY. */
  setOutputPaused(name: string, paused: boolean): void {
    const entry = this.agents.get(name)
    const runtime = entry?.runtime
    if (!runtime) return
    // Never while a message is being typed: its check reads the output (see onDeliver).
    if (paused && !(entry.injector?.pending ?? 0)) runtime.pauseOutput()
    else runtime.resumeOutput()
  }

  outputPaused(name: string): boolean {
    return this.agents.get(name)?.runtime?.outputPaused ?? false
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

  // ---- actions (§6) ----------------------------------------------------------

  /**
   * Register an in-process handler for an action name (v5's local sidecar, §6.4). It is
   * advertised as a capability (never a bare `spawn`), `handlers_live` turns true, and a
   * `spawn:<cli>` handler takes that action over from the broker-direct spawn (§8 #22).
   * The returned function unregisters it; invocations still running then answer
   * `handler_unavailable` (§8 #32).
   */
  registerActionHandler(name: string, fn: ActionHandler): () => void {
    if (name === 'release') throw new BrokerError('reserved_action', 'release is always handled by the broker')
    this.handlers.set(name, fn)
    this.publishManifest()
    return () => {
      if (this.handlers.get(name) !== fn) return
      this.handlers.delete(name)
      this.actions.failInFlight(name, 'handler_unavailable')
      this.publishManifest()
    }
  }

  private publishManifest(): void {
    const caps = [...this.baseCapabilities]
    for (const name of this.handlers.keys()) {
      const cap = handlerCapability(name)
      if (cap && !caps.some((c) => c.name === cap.name)) caps.push(cap)
    }
    this.client.updateRegistration({ ...this.client.registration, capabilities: caps })
  }

  private actionStep(frame: ActionInvokeFrame, state: ActionState, outcome?: ActionOutcome): void {
    const step: ActionStep = { invocationId: frame.invocation_id, action: frame.action, state, at: Date.now() }
    if (outcome && 'output' in outcome) step.output = outcome.output
    if (outcome && 'error' in outcome) step.error = outcome.error
    this.emit({ type: 'action', step })
  }

  private sendResult(id: string, outcome: ActionOutcome): void {
    if ('error' in outcome) this.client.send({ type: 'action.result', v: 1, invocation_id: id, error: outcome.error })
    else this.client.send({ type: 'action.result', v: 1, invocation_id: id, output: outcome.output ?? null })
  }

  private async onActionInvoke(frame: ActionInvokeFrame): Promise<void> {
    const id = frame.invocation_id
    const cached = this.actions.cached(id)
    if (cached) {
      // The engine retried an invocation we already answered: same answer, no second run (§8 #33).
      this.actionStep(frame, 'replayed', cached)
      this.sendResult(id, cached)
      return
    }
    if (this.actions.isInFlight(id)) return
    this.actionStep(frame, 'received')
    const outcome = await this.actions.run(id, frame.action, () => this.runAction(frame))
    this.actionStep(frame, 'error' in outcome ? 'failed' : 'completed', outcome)
    this.sendResult(id, outcome)
  }

  private async runAction(frame: ActionInvokeFrame): Promise<ActionOutcome> {
    const action = frame.action
    const spawnLike = action === 'spawn' || action.startsWith('spawn:')
    if (spawnLike && !this.handlers.has(action)) return this.actionSpawn(frame)
    if (action === 'release') return this.actionRelease(frame)
    const handler = this.handlers.get(action)
    if (!handler) return { error: 'handler_unavailable' }
    const ctx = { invocationId: frame.invocation_id, action, agentName: frame.agent_name, agentId: frame.agent_id }
    try {
      return { output: (await handler(frame.input, ctx)) ?? null }
    } catch (err) {
      if (err instanceof ActionError) return { error: err.code }
      return { error: `handler_failed: ${(err as Error).message}` }
    }
  }

  private async actionSpawn(frame: ActionInvokeFrame): Promise<ActionOutcome> {
    const input = resolveSpawnInput(frame)
    if ('error' in input) return input
    let snap: AgentSnapshot
    try {
      snap = await this.spawn({
        name: input.name,
        command: input.cli,
        args: input.args,
        cwd: input.cwd,
        task: input.task,
        invocationId: frame.invocation_id,
        sessionRef: input.sessionRef,
      })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'name_taken') return { error: 'spawn_agent_name_in_use' }
      return { error: `spawn_failed: ${(err as Error).message}` }
    }
    // Faithful: a process that dies at once was not spawned (v5 said it was, §8 #42).
    const entry = this.agents.get(snap.name)
    const runtime = entry?.runtime
    if (!runtime) return { error: 'spawn_failed: no process' }
    const settle = this.opts.spawnSettleMs ?? DEFAULT_SPAWN_SETTLE_MS
    const exit = await Promise.race([
      runtime.waitForExit(),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), settle).unref?.()),
    ])
    if (exit || !runtime.alive) {
      const code = exit?.exitCode ?? runtime.alive
      return { error: `spawn_failed: ${input.cli} exited right after it started (exit code ${code})` }
    }
    return { output: { spawned: true, name: snap.name } }
  }

  private async actionRelease(frame: ActionInvokeFrame): Promise<ActionOutcome> {
    const input = resolveReleaseInput(frame)
    if ('error' in input) return input
    const entry = this.agents.get(input.name)
    // Unlike v5 (§8 #40) a name this node never ran is an error; an exited one is released (§8 #27).
    if (!entry) return { error: `release_failed: no agent named "${input.name}" on this node` }
    try {
      if (entry.runtime?.alive) await entry.runtime.stop()
    } catch (err) {
      return { error: `release_failed: ${(err as Error).message}` }
    }
    return { output: { released: true, name: input.name } }
  }

  // ---- delivery ------------------------------------------------------------

  private step(frame: DeliverFrame, fields: DeliveryFields, state: DeliveryStepState, extra: Partial<DeliveryStep> = {}): void {
    this.emit({
      type: 'delivery',
      step: {
        msgId: frame.msg_id,
        deliveryId: frame.delivery_id,
        agent: frame.agent,
        from: fields.from,
        text: fields.body,
        target: fields.target,
        seq: frame.seq,
        state,
        at: Date.now(),
        mode: frame.mode,
        ...extra,
      },
    })
  }

  private ack(agent: string, upTo: number): boolean {
    return this.client.send({ type: 'delivery.ack', v: 1, agent, up_to_seq: upTo })
  }

  private commitAndAck(entry: AgentEntry | undefined, frame: DeliverFrame): { cursor: number; sent: boolean } {
    const cursor = this.book.commit(frame.agent, frame.seq, frame.msg_id)
    const agentId = entry?.snapshot.agentId
    if (agentId && frame.seq !== 0) this.cursors.set(this.opts.workspaceId, frame.agent, agentId, cursor)
    return { cursor, sent: this.ack(frame.agent, cursor) }
  }

  private onDeliver(frame: DeliverFrame): void {
    const fields = extractFields(frame.payload, frame.agent)
    fields.body = sanitizeForTerminal(fields.body)
    fields.from = sanitizeForTerminal(fields.from)
    fields.target = sanitizeForTerminal(fields.target)
    const cls = classifyPayload(frame.payload)
    const entry = this.agents.get(frame.agent)
    if (entry && entry.snapshot.status === 'starting' && !entry.injector) {
      entry.early.push(frame)
      return
    }
    // Never into the wrong agent: a name now bound to another identity gets nothing, not even an ack.
    if (entry?.snapshot.agentId && frame.agent_id && frame.agent_id !== entry.snapshot.agentId) {
      this.log('warn', `deliver ${frame.msg_id} for ${frame.agent} names agent id ${frame.agent_id}, not ${entry.snapshot.agentId}; ignored`)
      return
    }
    const decision = this.book.accept(frame.agent, frame.seq, frame.msg_id)
    if (decision.kind !== 'deliver') {
      // Re-ack what we already have; a gap is held for the engine to fill in order.
      this.ack(frame.agent, decision.cursor)
      this.log('debug', `deliver ${frame.msg_id} seq ${frame.seq} for ${frame.agent}: ${decision.kind}`)
      return
    }
    if (cls !== 'inject') {
      if (cls === 'unknown') this.log('warn', `acking deliver of unknown type "${payloadType(frame.payload)}" without typing it`)
      this.commitAndAck(entry, frame)
      return
    }
    this.step(frame, fields, 'received')
    if (!entry?.runtime?.alive || !entry.injector) {
      // Not hosted here (or dead): withhold the ack so the engine keeps it for a live location.
      this.book.release(frame.agent, frame.seq, frame.msg_id)
      this.step(frame, fields, 'failed', { detail: `agent ${frame.agent} is not running on this node` })
      return
    }
    const text = sanitizeForTerminal(
      formatInjection(
        profileFor(entry.snapshot.command),
        fields,
        {
          eventId: frame.msg_id,
          workspaceLabel: this.opts.workspaceLabel ?? this.opts.workspaceId,
          agentName: frame.agent,
          preRegistered: Boolean(entry.token),
        },
        entry.reminders,
      ),
    )
    this.step(frame, fields, 'queued')
    // Typing is checked against the agent's output (echo, screen): a PTY paused for a slow
    // viewer must be read again, or the check times out and the message is not acked.
    entry.runtime.resumeOutput()
    const generation = entry.generation
    const typed = entry.injector.inject({
        text,
        mode: frame.mode,
        stillWanted: () => entry.generation === generation && this.agents.get(frame.agent) === entry,
        onQueued: (why) => this.step(frame, fields, 'queued', { detail: why }),
        onTyped: (keys) => this.step(frame, fields, 'typed', { injected: keys.text, preKeys: keys.preKeys || undefined }),
      })
    this.changed(entry) // pendingInjections now counts this one
    typed
      .then((verification) => {
        // Verified after the agent was replaced (exit + respawn of the name): this entry's
        // book and cursor are gone; committing would move the new agent's cursor.
        if (this.agents.get(frame.agent) !== entry) return
        this.step(frame, fields, 'verified', { verification, detail: verification })
        const { sent } = this.commitAndAck(entry, frame)
        this.step(frame, fields, 'acked', { detail: sent ? undefined : 'ack will be re-sent on reconnect or redelivery' })
        this.changed(entry)
      })
      .catch((err: Error) => {
        // Nothing behind a failed one may be typed before it: cancel the queue, the engine redelivers in order.
        if (!(err instanceof InjectionCancelled)) entry.generation++
        this.book.release(frame.agent, frame.seq, frame.msg_id)
        this.step(frame, fields, 'failed', {
          detail:
            err instanceof InjectionCancelled
              ? 'not typed: an earlier message failed; waiting for redelivery'
              : err instanceof InjectionUnverified
                ? `not acked (${err.message}); the engine will deliver it again`
                : `could not type into ${frame.agent}: ${err.message}`,
        })
        this.changed(entry)
      })
  }

  /** Stop every agent's process tree, flush the cursors, tell the engine (node.deregister), close. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    const running = [...this.agents.values()].filter((a) => a.runtime?.alive)
    await Promise.all(running.map((a) => a.runtime?.stop().catch(() => undefined)))
    this.cursors.flush()
    await this.client.stop({ deregister: true })
  }
}

export const defaultStateDir = (dataDir: string): string => join(dataDir, 'node')
