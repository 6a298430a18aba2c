/**
 * LoadNode: a simulated broker node for load and fault tests against one engine or a
 * cluster of engine instances sharing a database. It holds ONE node socket at a time,
 * to one of a list of engine URLs, and models what the real broker does with mail:
 *
 * - node.register with `relay:delivery-cursor-v1`, so seqs are the engine's own and every
 *   agent.register reply carries the engine's ack cursor (`delivery_ack_seq`);
 * - per agent a cursor: seq == cursor+1 is "typed" (msg_id, text, receive time recorded),
 *   the cursor advances, and later seqs held earlier are typed once contiguous;
 *   seq <= cursor is stale (acked again, never typed twice); seq > cursor+1 is held as a gap;
 * - cumulative `delivery.ack` per agent (up_to_seq = cursor), coalesced per event-loop turn;
 * - seq 0 deliver frames are ephemeral notices: counted, neither typed nor acked;
 * - on a socket close it did not ask for, it reconnects to the NEXT url (round robin) with a
 *   short backoff (50 ms doubling to 1 s, reset on a successful node.register), re-registers
 *   the node and its agents keeping its own cursors (the engine's cursor only wins when it is
 *   ahead, which means mail was skipped: counted), and records the fail-over time (socket
 *   close → first successful node.register reply).
 *
 * Waiting is event driven: `waitForTyped(n, ms)` / `until(pred, what, ms)` re-check on every
 * state change and fail after their bound with the node's stats; nothing polls.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'

export interface LoadNodeOptions {
  /** Engine base URLs (http://host:port); the node connects to one at a time. */
  urls: string[]
  /** Node token from POST /v1/nodes. */
  token: string
  nodeId: string
  name: string
  /** Agents registered with agent.register on every (re)connect. */
  agents: string[]
  /** Index into `urls` of the first connect (default 0). */
  startIndex?: number
  /** Reconnect backoff (default 50 ms doubling to 1000 ms). */
  backoffMs?: { initial: number; max: number }
  /** WebSocket handshake bound (default 3000 ms): a hung instance is left for the next url. */
  connectTimeoutMs?: number
  /** node.register / agent.register reply bound (default 5000 ms), else the socket is dropped. */
  registerTimeoutMs?: number
  /** node.heartbeat interval while connected (default 12 s, like the broker); 0 = only on connect. */
  heartbeatMs?: number
}

export interface TypedMessage {
  agent: string
  seq: number
  msgId: string
  /** payload.data.text (or the payload as JSON when there is none). */
  text: string
  /** performance.now() when the frame was received. */
  at: number
  /** Engine URL the frame came from. */
  url: string
}

export interface Failover {
  from: string
  to: string
  /** performance.now() of the close that started it. */
  closedAt: number
  /** Close → first successful node.register reply. */
  ms: number
  /** Close → every agent re-registered (undefined until then). */
  agentsMs?: number
  /** Connection attempts it took (1 = the first reconnect worked). */
  attempts: number
  closeCode: number
}

export interface AgentStats {
  cursor: number
  typed: number
  /** Typed texts in typing order. */
  texts: string[]
  msgIds: string[]
  held: number
  stale: number
}

export interface LoadNodeStats {
  typed: number
  perAgent: Record<string, AgentStats>
  /** The same msg_id typed twice (for the same agent). Must be 0. */
  duplicates: number
  /** A typed seq that was not the previous typed seq + 1 (only after a skip). */
  outOfOrder: number
  /** Seqs never typed because the engine reported an ack cursor ahead of ours. */
  skipped: number
  /** Frames with seq <= cursor (re-acked, not typed). */
  stale: number
  /** Frames held because an earlier seq was missing. */
  gapsHeld: number
  /** seq 0 notices received. */
  notices: number
  /** Registered sessions that ended without stop(). */
  reconnects: number
  failovers: Failover[]
  /** Connection attempts that never reached a node.register reply. */
  connectFailures: number
  /** Index into urls of the current / last connection. */
  urlIndex: number
  connected: boolean
  ready: boolean
  /** Anything unexpected (error frames, frames for unknown agents, mismatched ids), bounded. */
  problems: string[]
}

/** A deliver frame as the harness needs it. */
export interface DeliverLike {
  seq: number
  msgId: string
  text: string
}

export type Offer =
  | { kind: 'typed'; items: DeliverLike[] }
  | { kind: 'stale' }
  | { kind: 'held' }

/**
 * One agent's cursor, as the broker keeps it (node-protocol §4.2 with the gap held): seq ==
 * cursor+1 is typed together with any held run it completes, seq <= cursor is stale, a later
 * seq waits in `held`. Exported so its rules can be tested frame by frame.
 */
export class AgentCursor {
  cursor = 0
  private readonly held = new Map<number, DeliverLike>()
  /** Held seqs whose msg_id differed from an earlier held frame with the same seq. */
  conflicts = 0

  get heldCount(): number {
    return this.held.size
  }

  offer(d: DeliverLike): Offer {
    if (d.seq <= this.cursor) return { kind: 'stale' }
    if (d.seq !== this.cursor + 1) {
      const prev = this.held.get(d.seq)
      if (prev && prev.msgId !== d.msgId) this.conflicts++
      this.held.set(d.seq, d)
      return { kind: 'held' }
    }
    const items = [d]
    this.cursor = d.seq
    this.held.delete(d.seq)
    for (let next = this.held.get(this.cursor + 1); next; next = this.held.get(this.cursor + 1)) {
      this.held.delete(next.seq)
      items.push(next)
      this.cursor = next.seq
    }
    return { kind: 'typed', items }
  }

  /** Move the cursor forward (engine ahead of us): returns how many seqs were skipped. Drops held <= cursor. */
  seed(engineCursor: number): number {
    const skipped = Math.max(0, engineCursor - this.cursor)
    if (skipped > 0) this.cursor = engineCursor
    for (const seq of [...this.held.keys()]) if (seq <= this.cursor) this.held.delete(seq)
    return skipped
  }
}

interface AgentState {
  book: AgentCursor
  /** agent_id from the last agent.register reply. */
  id?: string
  typedIds: Set<string>
  log: TypedMessage[]
  stale: number
  /** Seeded from the engine on the first registration. */
  seeded: boolean
  lastTypedSeq: number
}

type Frame = Record<string, any>

const MAX_PROBLEMS = 200

function textOf(payload: unknown): string {
  const data = (payload as { data?: { text?: unknown } } | undefined)?.data
  if (data && typeof data.text === 'string') return data.text
  return JSON.stringify(payload)
}

export interface LoadNodeEvents {
  typed: [TypedMessage]
  /** node.register answered on a new socket. */
  registered: [{ url: string; session: number }]
  /** Every agent registered on the current socket. */
  ready: [{ url: string; session: number }]
  failover: [Failover]
  disconnected: [{ url: string; code: number; reason: string; registered: boolean }]
  problem: [string]
  /** Any state change (for until()). */
  change: []
}

export class LoadNode extends EventEmitter<LoadNodeEvents> {
  readonly urls: string[]
  private readonly agents = new Map<string, AgentState>()
  private ws: WebSocket | undefined
  private session = 0
  private urlIndex: number
  private backoff: number
  private stopped = false
  private connected = false
  private registered = false
  private ready = false
  /** When the last registered session closed, until the next node.register reply. */
  private down: { at: number; from: string; code: number; attempts: number } | undefined
  private pendingFailover: Failover | undefined
  private readonly pendingAgents = new Set<string>()
  private readonly dirty = new Set<string>()
  private ackScheduled = false
  private acksPaused = false
  private reconnectTimer: NodeJS.Timeout | undefined
  private heartbeatTimer: NodeJS.Timeout | undefined
  private replyTimer: NodeJS.Timeout | undefined
  private typedTotal = 0
  private readonly s = { duplicates: 0, outOfOrder: 0, skipped: 0, stale: 0, gapsHeld: 0, notices: 0, reconnects: 0, connectFailures: 0 }
  private readonly failovers: Failover[] = []
  private readonly problems: string[] = []

  constructor(private readonly opts: LoadNodeOptions) {
    super()
    if (opts.urls.length === 0) throw new Error('LoadNode needs at least one url')
    this.setMaxListeners(0)
    this.urls = [...opts.urls]
    this.urlIndex = (opts.startIndex ?? 0) % this.urls.length
    this.backoff = opts.backoffMs?.initial ?? 50
    for (const name of opts.agents) {
      this.agents.set(name, { book: new AgentCursor(), typedIds: new Set(), log: [], stale: 0, seeded: false, lastTypedSeq: 0 })
    }
  }

  get name(): string {
    return this.opts.name
  }

  get agentNames(): string[] {
    return [...this.agents.keys()]
  }

  /** Messages typed so far, all agents. */
  get typedCount(): number {
    return this.typedTotal
  }

  /** Connects (from urls[startIndex]) and resolves once the node and every agent are registered. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.ws || this.reconnectTimer) throw new Error('LoadNode already started')
    this.connect()
    await this.until(() => this.ready, `${this.opts.name} registered with all agents`, timeoutMs)
  }

  /** Every typed message of one agent, in typing order. */
  typed(agent: string): TypedMessage[] {
    return [...(this.agents.get(agent)?.log ?? [])]
  }

  /** Every typed message of every agent (agent by agent). */
  allTyped(): TypedMessage[] {
    return [...this.agents.values()].flatMap((a) => a.log)
  }

  /** The engine's id for an agent (from its agent.register reply), once registered. */
  agentId(agent: string): string | undefined {
    return this.agents.get(agent)?.id
  }

  cursor(agent: string): number | undefined {
    return this.agents.get(agent)?.book.cursor
  }

  stats(): LoadNodeStats {
    const perAgent: Record<string, AgentStats> = {}
    for (const [name, a] of this.agents) {
      perAgent[name] = {
        cursor: a.book.cursor, typed: a.log.length, texts: a.log.map((t) => t.text), msgIds: a.log.map((t) => t.msgId),
        held: a.book.heldCount, stale: a.stale,
      }
    }
    return {
      typed: this.typedTotal, perAgent, ...this.s, failovers: [...this.failovers], urlIndex: this.urlIndex,
      connected: this.connected, ready: this.ready, problems: [...this.problems],
    }
  }

  /**
   * Resolves when `pred()` holds, re-checked on every state change of this node; rejects
   * after `timeoutMs` with `what` and the node's counters.
   */
  until(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (pred()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return
        clearTimeout(timer)
        this.off('change', check)
        resolve()
      }
      const timer = setTimeout(() => {
        this.off('change', check)
        reject(new Error(`${this.opts.name}: timed out after ${timeoutMs} ms waiting for ${what}; ${this.summary()}`))
      }, timeoutMs)
      this.on('change', check)
    })
  }

  /** Resolves once `n` messages were typed in total (all agents). */
  waitForTyped(n: number, timeoutMs: number): Promise<void> {
    return this.until(() => this.typedTotal >= n, `${n} typed messages`, timeoutMs)
  }

  /** Resolves once the node is registered with all agents again (after a drop). */
  waitForReady(timeoutMs: number): Promise<void> {
    return this.until(() => this.ready, 'registration with all agents', timeoutMs)
  }

  /** One line of counters for failure messages. */
  summary(): string {
    const held = [...this.agents.values()].reduce((n, a) => n + a.book.heldCount, 0)
    const cursors = [...this.agents].map(([n, a]) => `${n}=${a.book.cursor}`).join(',')
    return `typed=${this.typedTotal} held=${held} stale=${this.s.stale} dup=${this.s.duplicates} skipped=${this.s.skipped} ` +
      `reconnects=${this.s.reconnects} connectFailures=${this.s.connectFailures} url=${this.urls[this.urlIndex]} ` +
      `connected=${this.connected} ready=${this.ready} cursors[${cursors}] problems=${JSON.stringify(this.problems.slice(-5))}`
  }

  /**
   * Test hook: while paused, typed messages are not acked (as if the acks died with the
   * socket). resumeAcks() sends the cursors that moved meanwhile.
   */
  pauseAcks(): void {
    this.acksPaused = true
  }

  resumeAcks(): void {
    this.acksPaused = false
    for (const [name, a] of this.agents) if (a.book.cursor > 0) this.dirty.add(name)
    this.scheduleAcks()
  }

  /** Test hook: drop the socket as a network failure would (no close handshake). */
  dropSocket(): void {
    this.ws?.terminate()
  }

  /** Sends pending acks, closes the socket and stops reconnecting. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearTimeout(this.reconnectTimer)
    clearInterval(this.heartbeatTimer)
    clearTimeout(this.replyTimer)
    this.flushAcks()
    const ws = this.ws
    if (!ws || ws.readyState === WebSocket.CLOSED) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => ws.terminate(), 2000)
      ws.once('close', () => {
        clearTimeout(t)
        resolve()
      })
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate()
      else ws.close(1000, 'load_node_stop')
    })
  }

  // ---- connection ---------------------------------------------------------------------

  private problem(msg: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(msg)
    this.emit('problem', msg)
    this.emit('change')
  }

  private send(frame: object): boolean {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return false
    ws.send(JSON.stringify(frame))
    return true
  }

  private connect(): void {
    this.reconnectTimer = undefined
    if (this.stopped) return
    const session = ++this.session
    const url = this.urls[this.urlIndex] as string
    if (this.down) this.down.attempts++
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/node/ws', {
      headers: { authorization: `Bearer ${this.opts.token}` },
      handshakeTimeout: this.opts.connectTimeoutMs ?? 3000,
    })
    this.ws = ws
    let wasRegistered = false
    ws.on('open', () => {
      if (session !== this.session) return
      this.connected = true
      this.send({
        type: 'node.register', v: 1, id: `node_register_${session}`, name: this.opts.name, node_id: this.opts.nodeId,
        capabilities: [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }], max_agents: 0, tags: [],
        version: 'relay-broker/load-node', resume_cursor: null,
      })
      this.armReplyTimer(session, 'node.register')
      this.emit('change')
    })
    ws.on('message', (data) => {
      if (session !== this.session) return
      let frame: Frame
      try {
        frame = JSON.parse(data.toString()) as Frame
      } catch {
        this.problem(`non-JSON frame from ${url}`)
        return
      }
      if (frame.type === 'reply' && frame.id === `node_register_${session}`) wasRegistered = true
      this.onFrame(session, url, frame)
    })
    ws.on('error', () => undefined) // the close that follows drives the reconnect
    ws.on('close', (code, reason) => {
      if (session !== this.session) return
      this.onClose(url, code, reason.toString(), wasRegistered)
    })
  }

  private armReplyTimer(session: number, what: string): void {
    clearTimeout(this.replyTimer)
    this.replyTimer = setTimeout(() => {
      if (session !== this.session) return
      this.problem(`${what} not answered within ${this.opts.registerTimeoutMs ?? 5000} ms by ${this.urls[this.urlIndex]}; dropping the socket`)
      this.ws?.terminate()
    }, this.opts.registerTimeoutMs ?? 5000)
  }

  private onClose(url: string, code: number, reason: string, wasRegistered: boolean): void {
    clearInterval(this.heartbeatTimer)
    clearTimeout(this.replyTimer)
    this.connected = false
    this.registered = false
    this.ready = false
    this.pendingAgents.clear()
    this.ws = undefined
    this.emit('disconnected', { url, code, reason, registered: wasRegistered })
    if (this.stopped) {
      this.emit('change')
      return
    }
    if (wasRegistered) {
      this.s.reconnects++
      this.down = { at: performance.now(), from: url, code, attempts: 0 }
    } else {
      this.s.connectFailures++
    }
    // Round robin: the next url, after a short backoff.
    this.urlIndex = (this.urlIndex + 1) % this.urls.length
    const delay = this.backoff
    this.backoff = Math.min(this.backoff * 2, this.opts.backoffMs?.max ?? 1000)
    this.reconnectTimer = setTimeout(() => this.connect(), delay)
    this.emit('change')
  }

  private onFrame(session: number, url: string, f: Frame): void {
    switch (f.type) {
      case 'deliver':
        this.onDeliver(url, f)
        return
      case 'reply':
        if (f.id === `node_register_${session}`) this.onNodeRegistered(session, url)
        else if (typeof f.id === 'string' && f.id.startsWith('agent_register_')) this.onAgentRegistered(session, url, f)
        return
      case 'error': {
        this.problem(`error frame from ${url}: ${f.code}: ${f.message} (id ${f.id})`)
        if (f.id === `node_register_${session}`) this.ws?.terminate()
        else if (typeof f.id === 'string' && f.id.startsWith('agent_register_')) {
          // The agent stays unregistered on this socket: drop it and try the next url.
          this.ws?.terminate()
        }
        return
      }
      case 'ping':
        return
      default:
        this.problem(`unexpected frame type ${String(f.type)} from ${url}`)
    }
  }

  private onNodeRegistered(session: number, url: string): void {
    clearTimeout(this.replyTimer)
    this.registered = true
    this.backoff = this.opts.backoffMs?.initial ?? 50
    if (this.down) {
      const fo: Failover = {
        from: this.down.from, to: url, closedAt: this.down.at, ms: performance.now() - this.down.at,
        attempts: this.down.attempts, closeCode: this.down.code,
      }
      this.failovers.push(fo)
      this.pendingFailover = fo
      this.down = undefined
      this.emit('failover', fo)
    }
    this.heartbeat()
    const every = this.opts.heartbeatMs ?? 12_000
    if (every > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(), every)
      this.heartbeatTimer.unref()
    }
    this.emit('registered', { url, session })
    for (const name of this.agents.keys()) {
      this.pendingAgents.add(name)
      this.send({ type: 'agent.register', v: 1, id: `agent_register_${session}_${name}`, name })
    }
    this.armReplyTimer(session, 'agent.register')
    this.emit('change')
  }

  private onAgentRegistered(session: number, url: string, f: Frame): void {
    const name = String(f.id).slice(`agent_register_${session}_`.length)
    const a = this.agents.get(name)
    if (!String(f.id).startsWith(`agent_register_${session}_`) || !a || !this.pendingAgents.delete(name)) {
      this.problem(`unmatched agent.register reply ${String(f.id)} from ${url}`)
      return
    }
    if (a.id && f.data?.agent_id !== a.id) this.problem(`${name}: agent id changed from ${a.id} to ${String(f.data?.agent_id)} on ${url}`)
    a.id = f.data?.agent_id
    const engineAck = f.data?.delivery_ack_seq
    if (typeof engineAck !== 'number') {
      this.problem(`agent.register reply for ${name} without delivery_ack_seq (cursor capability not honoured?)`)
    } else if (!a.seeded) {
      a.seeded = true
      a.book.seed(engineAck)
      a.lastTypedSeq = a.book.cursor
    } else if (engineAck > a.book.cursor) {
      const skipped = a.book.seed(engineAck)
      this.s.skipped += skipped
      this.problem(`${name}: engine ack cursor ${engineAck} is ahead of ours; ${skipped} seq(s) skipped, never typed`)
    } else if (engineAck < a.book.cursor) {
      // Typed here but the ack died with the old socket: tell the new one.
      this.dirty.add(name)
      this.scheduleAcks()
    }
    if (this.pendingAgents.size === 0) {
      clearTimeout(this.replyTimer)
      this.ready = true
      if (this.pendingFailover) {
        this.pendingFailover.agentsMs = performance.now() - this.pendingFailover.closedAt
        this.pendingFailover = undefined
      }
      this.emit('ready', { url, session })
    }
    this.emit('change')
  }

  private heartbeat(): void {
    this.send({ type: 'node.heartbeat', v: 1, active_agents: this.agents.size, handlers_live: false, load: 0 })
  }

  // ---- delivery -----------------------------------------------------------------------

  private onDeliver(url: string, f: Frame): void {
    const at = performance.now()
    const a = this.agents.get(f.agent)
    if (!a) {
      this.problem(`deliver for unknown agent ${String(f.agent)} from ${url}`)
      return
    }
    if (f.seq === 0) {
      this.s.notices++
      this.emit('change')
      return
    }
    const offer = a.book.offer({ seq: f.seq, msgId: f.msg_id, text: textOf(f.payload) })
    if (offer.kind === 'stale') {
      a.stale++
      this.s.stale++
      this.dirty.add(f.agent)
    } else if (offer.kind === 'held') {
      this.s.gapsHeld++
      this.dirty.add(f.agent) // like the broker: re-ack the cursor so the engine fills the gap
    } else {
      for (const item of offer.items) {
        if (a.typedIds.has(item.msgId)) this.s.duplicates++
        a.typedIds.add(item.msgId)
        if (item.seq !== a.lastTypedSeq + 1) this.s.outOfOrder++
        a.lastTypedSeq = item.seq
        const t: TypedMessage = { agent: f.agent, seq: item.seq, msgId: item.msgId, text: item.text, at, url }
        a.log.push(t)
        this.typedTotal++
        this.emit('typed', t)
      }
      this.dirty.add(f.agent)
    }
    this.scheduleAcks()
    this.emit('change')
  }

  private scheduleAcks(): void {
    if (this.ackScheduled || this.acksPaused) return
    this.ackScheduled = true
    setImmediate(() => {
      this.ackScheduled = false
      this.flushAcks()
    })
  }

  private flushAcks(): void {
    if (this.acksPaused || !this.registered) return
    for (const name of this.dirty) {
      const cursor = this.agents.get(name)?.book.cursor ?? 0
      if (cursor > 0 && !this.send({ type: 'delivery.ack', v: 1, agent: name, up_to_seq: cursor })) return
    }
    this.dirty.clear()
  }
}
