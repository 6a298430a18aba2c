/**
 * The node control socket client (node-protocol.md §2.7–§3): connect with the node
 * token, register on every connect, heartbeat, detect a dead socket, reconnect with
 * capped, jittered backoff, re-mint the token on 401 (at most 5 times in a row, never
 * a pinned one), and correlate agent.register replies by id, then by name.
 */
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'
import {
  agentRegisterReplyDataSchema,
  decodeServerFrame,
  encodeFrame,
  type ActionInvokeFrame,
  type AgentRegisterReplyData,
  type Capability,
  type DeliverFrame,
  type InventoryAgent,
  type NodeToServerFrame,
} from '../../shared/wire'

export const HEARTBEAT_INTERVAL_MS = 12_000
export const READ_IDLE_TIMEOUT_MS = 48_000
export const AGENT_REGISTER_TIMEOUT_MS = 30_000
export const INITIAL_RECONNECT_DELAY_MS = 1_000
export const MAX_RECONNECT_DELAY_MS = 30_000
export const MAX_CONSECUTIVE_REMINTS = 5
/** A connection that stayed up this long resets the backoff (v5 never did, §8 #38). */
export const HEALTHY_CONNECTION_MS = 60_000
/** Pending agent.register entries older than this fail at the next heartbeat tick (§3.3). */
export const REGISTER_AGENT_PENDING_TTL_MS = 300_000
/** How long a graceful stop waits for the socket to close after node.deregister. */
export const CLOSE_GRACE_MS = 1000

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'stopped'

export class NodeControlError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'NodeControlError'
  }
}

export interface NodeRegistration {
  name: string
  nodeId: string
  capabilities: Capability[]
  maxAgents: number
  tags: string[]
  version: string
}

export interface LoadSnapshot {
  activeAgents: number
  maxAgents: number
  handlersLive: boolean
}

export interface NodeClientOptions {
  wsUrl: string
  registration: NodeRegistration
  /** Current token; undefined = none yet (mint is attempted). */
  token?: string
  /** A pinned token is never replaced by a mint. */
  pinned?: boolean
  /** Mint a fresh token (delete the cache, POST /v1/nodes, persist). */
  remint?: () => Promise<string>
  load: () => LoadSnapshot
  inventory: () => InventoryAgent[]
  random?: () => number
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void
  heartbeatIntervalMs?: number
  readIdleTimeoutMs?: number
  registerTimeoutMs?: number
  initialReconnectDelayMs?: number
  maxReconnectDelayMs?: number
  healthyConnectionMs?: number
  pendingTtlMs?: number
  /** Clock for connection age and pending-entry age (tests inject one). */
  now?: () => number
}

export interface NodeClientEvents {
  state?: (state: ConnectionState, detail?: string) => void
  connected?: () => void
  deliver?: (frame: DeliverFrame) => void
  actionInvoke?: (frame: ActionInvokeFrame) => void
  heartbeatSent?: (at: number) => void
  /** An engine `error` frame that answered no pending request (e.g. a rejected node.register, §8 #45). */
  engineError?: (code: string, message: string) => void
}

interface PendingRegister {
  id: string
  name: string
  resolve: (data: AgentRegisterReplyData) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
  createdAt: number
}

export class NodeClient {
  private ws: WebSocket | undefined
  private state: ConnectionState = 'idle'
  private token: string | undefined
  private delayMs: number
  private consecutiveUnauthorized = 0
  private heartbeatTimer: NodeJS.Timeout | undefined
  private idleTimer: NodeJS.Timeout | undefined
  private reconnectTimer: NodeJS.Timeout | undefined
  private connectedAt = 0
  private readonly pending = new Map<string, PendingRegister>()
  /** Registrations whose caller gave up; a late success is compensated with agent.deregister. */
  private readonly abandoned = new Map<string, { name: string; at: number }>()
  private readonly log: NonNullable<NodeClientOptions['log']>
  private readonly random: () => number
  private readonly now: () => number
  /** Reconnect delays actually waited (diagnostics and tests). */
  readonly backoffHistory: number[] = []

  constructor(
    private readonly opts: NodeClientOptions,
    private readonly events: NodeClientEvents = {},
  ) {
    this.token = opts.token
    this.delayMs = opts.initialReconnectDelayMs ?? INITIAL_RECONNECT_DELAY_MS
    this.log = opts.log ?? (() => undefined)
    this.random = opts.random ?? Math.random
    this.now = opts.now ?? Date.now
  }

  get registration(): NodeRegistration {
    return this.opts.registration
  }

  /** Replace the node manifest; sent as a new node.register at once when connected (§3.3). */
  updateRegistration(reg: NodeRegistration): void {
    this.opts.registration = reg
    if (this.state === 'connected') {
      this.sendRegister()
      this.heartbeatNow()
    }
  }

  get pendingRegistrations(): number {
    return this.pending.size
  }

  /** A method, not a narrowed field read: the state may change across an await. */
  private isStopped(): boolean {
    return this.state === 'stopped'
  }

  get connectionState(): ConnectionState {
    return this.state
  }

  get currentToken(): string | undefined {
    return this.token
  }

  /** Install a token resolved before start (env or cache); a later 401 may replace it. */
  setToken(token: string): void {
    this.token = token
  }

  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return
    this.connect()
  }

  /** Drop the socket and connect again now (the user's Reconnect button). */
  reconnectNow(): void {
    if (this.state === 'stopped') return
    clearTimeout(this.reconnectTimer)
    this.delayMs = this.opts.initialReconnectDelayMs ?? INITIAL_RECONNECT_DELAY_MS
    if (this.ws) this.ws.terminate()
    else this.connect()
  }

  /**
   * Stop for good. With `deregister`, tell the engine first (node.deregister) and close
   * the socket cleanly, so the node goes offline at once rather than at its liveness TTL.
   */
  async stop(opts: { deregister?: boolean } = {}): Promise<void> {
    const ws = this.ws
    const wasConnected = this.state === 'connected'
    if (opts.deregister && wasConnected) this.send({ type: 'node.deregister', v: 1 })
    this.setState('stopped')
    clearTimeout(this.reconnectTimer)
    this.clearTimers()
    this.failPending('node_control_shutdown', 'broker is shutting down')
    this.ws = undefined
    if (!ws) return
    if (wasConnected && ws.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          ws.terminate()
          resolve()
        }, CLOSE_GRACE_MS)
        ws.once('close', () => {
          clearTimeout(timer)
          resolve()
        })
        ws.close(1000, 'node shutting down')
      })
    } else {
      ws.terminate()
    }
  }

  send(frame: NodeToServerFrame): boolean {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN || this.state !== 'connected') return false
    ws.send(encodeFrame(frame))
    return true
  }

  heartbeatNow(): void {
    if (this.state !== 'connected') return
    const reg = this.opts.registration
    const load = this.opts.load()
    const max = load.maxAgents
    const ratio = max > 0 ? Math.min(1, Math.max(0, load.activeAgents / max)) : 0
    if (
      this.send({
        type: 'node.heartbeat',
        v: 1,
        name: reg.name,
        node_id: reg.nodeId,
        capabilities: reg.capabilities,
        max_agents: max,
        version: reg.version,
        load: ratio,
        active_agents: load.activeAgents,
        handlers_live: load.handlersLive,
      })
    ) {
      this.events.heartbeatSent?.(Date.now())
    }
  }

  syncInventory(): void {
    const agents = this.opts.inventory()
    this.send({ type: 'inventory.sync', v: 1, agents })
  }

  registerAgent(name: string, extra: { invocationId?: string; sessionRef?: string } = {}): Promise<AgentRegisterReplyData> {
    if (this.state !== 'connected') {
      return Promise.reject(new NodeControlError('node_control_disconnected', 'not connected to the engine'))
    }
    const id = `agent_register_${randomBytes(16).toString('hex')}`
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const p = this.pending.get(id)
        if (!p) return
        this.pending.delete(id)
        this.abandoned.set(id, { name, at: this.now() })
        reject(new NodeControlError('agent_register_timeout', `engine did not answer agent.register for ${name}`))
      }, this.opts.registerTimeoutMs ?? AGENT_REGISTER_TIMEOUT_MS)
      this.pending.set(id, { id, name, resolve, reject, timer, createdAt: this.now() })
      const frame: NodeToServerFrame = { type: 'agent.register', v: 1, id, name }
      if (extra.invocationId) frame.invocation_id = extra.invocationId
      if (extra.sessionRef) {
        frame.session_ref = extra.sessionRef
        frame.resumable = true
      }
      if (!this.send(frame)) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(new NodeControlError('node_control_disconnected', 'socket closed before agent.register was sent'))
      }
    })
  }

  // ---- connection ----------------------------------------------------------

  private setState(state: ConnectionState, detail?: string): void {
    this.state = state
    this.events.state?.(state, detail)
  }

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return
    if (!this.token) {
      if (!this.opts.remint || this.opts.pinned) {
        this.setState('backoff', 'no node token available')
        return this.scheduleReconnect()
      }
      try {
        this.token = await this.opts.remint()
        if (this.isStopped()) return
      } catch (err) {
        if (this.isStopped()) return
        // v5 never retried a failed initial mint (§8 #37); we keep trying with backoff.
        this.setState('backoff', `could not get a node token: ${(err as Error).message}`)
        return this.scheduleReconnect()
      }
    }
    this.setState('connecting')
    const ws = new WebSocket(this.opts.wsUrl, { headers: { authorization: `Bearer ${this.token}` }, maxPayload: 16 << 20 })
    this.ws = ws
    let opened = false

    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0
      res.resume()
      if (this.ws === ws) this.ws = undefined
      ws.terminate()
      if (status === 401) void this.onUnauthorized()
      else this.onDisconnected(`engine refused the connection (HTTP ${status})`)
    })
    ws.on('open', () => {
      opened = true
      this.onOpen()
    })
    ws.on('message', (data, isBinary) => {
      this.armIdleTimer()
      if (isBinary) return
      this.onFrame(data.toString())
    })
    ws.on('pong', () => this.armIdleTimer())
    ws.on('error', (err) => {
      if (!opened) this.log('debug', `node socket error: ${err.message}`)
    })
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return
      this.ws = undefined
      if (!opened) {
        // unexpected-response already handled it, or a TCP/DNS failure.
        if (this.state === 'connecting') this.onDisconnected('cannot reach the engine')
        return
      }
      const why = reason.toString() || `socket closed (${code})`
      this.onDisconnected(why)
    })
  }

  private sendRegister(): void {
    const reg = this.opts.registration
    this.send({
      type: 'node.register',
      v: 1,
      name: reg.name,
      node_id: reg.nodeId,
      capabilities: reg.capabilities,
      max_agents: reg.maxAgents,
      tags: reg.tags,
      version: reg.version,
      resume_cursor: null,
    })
  }

  private onOpen(): void {
    this.connectedAt = this.now()
    this.consecutiveUnauthorized = 0
    this.setState('connected')
    this.sendRegister()
    // Always the full snapshot, even empty (v5 skipped empty ones and listed only sidecar
    // agents, §8 #36): the engine learns at once which agents live here and which died.
    this.syncInventory()
    this.heartbeatNow()
    this.armIdleTimer()
    this.heartbeatTimer = setInterval(() => {
      this.expirePending()
      this.heartbeatNow()
      // WS-level ping: lets the read-idle timer catch a blackholed socket (§8 #39).
      try {
        this.ws?.ping()
      } catch {
        // closing
      }
    }, this.opts.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS)
    this.events.connected?.()
  }

  /** §3.3: on each heartbeat tick, pending agent.register entries older than the TTL fail (§8 #31). */
  private expirePending(): void {
    const ttl = this.opts.pendingTtlMs ?? REGISTER_AGENT_PENDING_TTL_MS
    const now = this.now()
    for (const p of [...this.pending.values()]) {
      if (now - p.createdAt < ttl) continue
      this.pending.delete(p.id)
      clearTimeout(p.timer)
      p.reject(new NodeControlError('agent_register_pending_expired', `agent.register for ${p.name} expired unanswered`))
    }
    for (const [id, a] of this.abandoned) if (now - a.at >= ttl) this.abandoned.delete(id)
  }

  /** Called on every inbound frame: re-arm the existing timer rather than allocate one. */
  private armIdleTimer(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh()
      return
    }
    this.idleTimer = setTimeout(() => {
      this.log('warn', 'no frame from the engine within the idle timeout; reconnecting')
      this.ws?.terminate()
    }, this.opts.readIdleTimeoutMs ?? READ_IDLE_TIMEOUT_MS)
  }

  private clearTimers(): void {
    clearInterval(this.heartbeatTimer)
    clearTimeout(this.idleTimer)
    this.heartbeatTimer = undefined
    this.idleTimer = undefined
  }

  private async onUnauthorized(): Promise<void> {
    if (this.state === 'stopped') return
    this.ws = undefined
    this.clearTimers()
    this.consecutiveUnauthorized++
    if (this.opts.pinned || !this.opts.remint) {
      this.log('error', 'NODE TOKEN REJECTED (401): the pinned token is not accepted by the engine')
    } else if (this.consecutiveUnauthorized <= MAX_CONSECUTIVE_REMINTS) {
      try {
        this.token = await this.opts.remint()
        this.log('info', 'node token rejected (401); minted a new one')
      } catch (err) {
        this.log('error', `node token rejected and re-mint failed: ${(err as Error).message}`)
      }
    } else {
      this.log('error', 'NODE TOKEN REJECTED: re-mint kept failing; retrying with the last token')
    }
    if (this.isStopped()) return
    this.failPending('node_control_disconnected', 'engine rejected the node token')
    this.setState('backoff', 'engine rejected the node token (401)')
    this.scheduleReconnect()
  }

  private onDisconnected(reason: string): void {
    if (this.state === 'stopped') return
    this.clearTimers()
    // A non-401 failure ends a run of 401s (§8 #51).
    this.consecutiveUnauthorized = 0
    if (this.connectedAt && this.now() - this.connectedAt >= (this.opts.healthyConnectionMs ?? HEALTHY_CONNECTION_MS)) {
      this.delayMs = this.opts.initialReconnectDelayMs ?? INITIAL_RECONNECT_DELAY_MS
    }
    this.connectedAt = 0
    this.failPending('node_control_disconnected', 'connection to the engine dropped')
    this.setState('backoff', reason)
    this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    if (this.state === 'stopped') return
    const base = this.delayMs
    // ±20% jitter so a fleet of nodes doesn't reconnect in lockstep after an engine restart.
    const wait = Math.round(base * (0.8 + 0.4 * this.random()))
    this.delayMs = Math.min(base * 2, this.opts.maxReconnectDelayMs ?? MAX_RECONNECT_DELAY_MS)
    this.backoffHistory.push(wait)
    if (this.backoffHistory.length > 100) this.backoffHistory.shift()
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => void this.connect(), wait)
  }

  private failPending(code: string, message: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new NodeControlError(code, message))
    }
    this.pending.clear()
  }

  // ---- frames --------------------------------------------------------------

  private onFrame(text: string): void {
    const decoded = decodeServerFrame(text)
    if (!decoded.ok) {
      // Dropped without ack: the engine redelivers a deliver we could not read (§3.7).
      this.log('warn', `invalid node frame dropped (${decoded.reason}): ${text.slice(0, 200)}`)
      return
    }
    const frame = decoded.frame
    switch (frame.type) {
      case 'deliver':
        this.events.deliver?.(frame)
        return
      case 'action.invoke':
        this.events.actionInvoke?.(frame)
        return
      case 'ping':
        return
      case 'reply':
        this.onReply(frame.id, frame.data)
        return
      case 'error': {
        const p = this.pending.get(frame.id)
        if (p) {
          this.pending.delete(frame.id)
          clearTimeout(p.timer)
          p.reject(new NodeControlError(frame.code, `${frame.code}: ${frame.message}`))
        } else {
          // v5 dropped these silently (§8 #45); a rejected node.register matters to the user.
          this.log('error', `engine error: ${frame.code}: ${frame.message}`)
          this.events.engineError?.(frame.code, frame.message)
        }
        return
      }
    }
  }

  private onReply(id: string, data: unknown): void {
    let p = this.pending.get(id)
    const parsed = agentRegisterReplyDataSchema.safeParse(data)
    if (!p && parsed.success && parsed.data.name) {
      p = [...this.pending.values()].find((x) => x.name === parsed.data.name)
    }
    if (!p) {
      const abandoned = this.abandoned.get(id)
      if (abandoned && parsed.success) {
        // The caller gave up (§8 #30): undo the binding the engine just made.
        this.abandoned.delete(id)
        this.log('warn', `late agent.register reply for ${abandoned.name}; deregistering it`)
        this.send({ type: 'agent.deregister', v: 1, id, agent_id: parsed.data.agent_id, name: abandoned.name })
        return
      }
      this.log('debug', 'reply did not match a pending agent.register (likely node.register/inventory.sync)')
      return
    }
    this.pending.delete(p.id)
    clearTimeout(p.timer)
    if (!parsed.success) {
      p.reject(new NodeControlError('invalid_agent_register_reply_data', 'engine answered agent.register with invalid data'))
      return
    }
    p.resolve(parsed.data)
  }
}

/** `http(s)://host/base` → `ws(s)://host/base/v1/node/ws` (§3.1). */
export function nodeControlWsUrl(baseUrl: string): string {
  const trimmed = baseUrl.trim().replace(/\/+$/, '')
  return `${trimmed.replace(/^https:\/\//, 'wss://').replace(/^http:\/\//, 'ws://')}/v1/node/ws`
}
