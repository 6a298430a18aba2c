/**
 * One UI connection to the host (a window over Electron IPC, a page over the headless
 * socket): what it is subscribed to, what it still owes acks for, and the events queued
 * for it. Both transports use it, so they behave the same:
 *
 * - Terminal bytes only for subscribed agents (the terminals on screen). The other agents'
 *   output costs the connection nothing; their activity still comes in agent.changed, and
 *   `terminal.subscribe` replays the host's scrollback when one is opened.
 * - Batched: terminal output at most once per OUTPUT_FLUSH_MS (a frame), everything else at
 *   most once per STATE_FLUSH_MS, each as one transport message (one syscall on the socket,
 *   one IPC message) instead of one per event. Leading edge: the first event after a quiet
 *   spell goes out at the end of the current turn of the event loop, so a keystroke's echo
 *   is not held for a frame. An agent's output chunks are joined (up to
 *   MAX_OUTPUT_PER_EVENT), and an event that only carries the latest state of something (a
 *   message, an agent, the node status, settings) replaces the earlier one still queued.
 * - Flow control (OutputFlow): characters sent but not acked, per agent; past the high
 *   watermark the agent's PTY is paused until the viewer catches up.
 */
import {
  OUTPUT_HIGH_WATERMARK,
  OUTPUT_LOW_WATERMARK,
  parseRequest,
  type CommandName,
  type CommandOutcome,
  type ConnectionCommand,
  type EventName,
  type FeedMessage,
} from '../../shared/ipc'

export type EventBatch = Array<{ event: EventName; payload: unknown }>

/** A joined output event never grows past this (Hyper's batch cap). */
export const MAX_OUTPUT_PER_EVENT = 200 * 1024
/** Terminal output goes out at most once per this many ms per connection (a frame). */
export const OUTPUT_FLUSH_MS = 16
/**
 * Everything else (messages, agents, node status, …) at most once per this many ms: a
 * person does not read a message's state changes 60 times a second, and each batch costs
 * the page a render. Coalesced by key, so only the latest state of each thing goes out.
 */
export const STATE_FLUSH_MS = 100

export interface FlowTarget {
  pause(name: string): void
  resume(name: string): void
  paused(name: string): boolean
}

/**
 * Unacknowledged output per agent and connection (VS Code's pty host flow control: pause at
 * 100k unacked chars, resume under 5k). The most-behind subscriber decides.
 */
export class OutputFlow {
  private readonly unacked = new Map<string, Map<object, number>>()

  constructor(
    private readonly target: FlowTarget,
    private readonly high = OUTPUT_HIGH_WATERMARK,
    private readonly low = OUTPUT_LOW_WATERMARK,
  ) {}

  sent(conn: object, name: string, chars: number): void {
    let per = this.unacked.get(name)
    if (!per) {
      per = new Map()
      this.unacked.set(name, per)
    }
    const n = (per.get(conn) ?? 0) + chars
    per.set(conn, n)
    if (n > this.high && !this.target.paused(name)) this.target.pause(name)
  }

  acked(conn: object, name: string, chars: number): void {
    const per = this.unacked.get(name)
    const n = per?.get(conn)
    if (!per || n === undefined) return
    per.set(conn, Math.max(0, n - chars))
    this.maybeResume(name)
  }

  /** The connection no longer watches this agent (unsubscribed, resubscribed, gone). */
  drop(conn: object, name: string): void {
    const per = this.unacked.get(name)
    if (!per) return
    per.delete(conn)
    if (!per.size) this.unacked.delete(name)
    this.maybeResume(name)
  }

  dropAll(conn: object): void {
    for (const name of [...this.unacked.keys()]) this.drop(conn, name)
  }

  pending(conn: object, name: string): number {
    return this.unacked.get(name)?.get(conn) ?? 0
  }

  private maybeResume(name: string): void {
    if (!this.target.paused(name)) return
    const per = this.unacked.get(name)
    for (const n of per?.values() ?? []) if (n > this.low) return
    this.target.resume(name)
  }
}

export interface ConnectionDeps {
  /** Every other command, as the host runs it. */
  invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>>
  /** The agent's scrollback, everything emitted as output so far (throws a coded error when unknown). */
  scrollback(name: string): string
  flow: OutputFlow
  /** Hands a batch to the transport. */
  send(batch: EventBatch): void
  /** Cadences (tests); default OUTPUT_FLUSH_MS and STATE_FLUSH_MS. */
  outputFlushMs?: number
  stateFlushMs?: number
}

/** Events that carry a whole current state: a newer one makes a queued older one moot. */
function latestKey(event: EventName, payload: unknown): string | undefined {
  switch (event) {
    case 'message.changed':
      return `m:${(payload as FeedMessage).id}`
    case 'agent.changed':
      return `a:${(payload as { name: string }).name}`
    case 'node.status':
    case 'settings.changed':
      return event
    default:
      return undefined
  }
}

type Slot = { event: EventName; payload: unknown } | null

/**
 * The connection's queues: terminal output per agent (joined), and the other events in
 * order with latest-state coalescing. Each kind has its own cadence, leading edge: the
 * first event after a quiet spell goes out at the end of the current turn of the event
 * loop (a keystroke's echo is not held for a frame), later ones wait for their slot.
 */
export class HostConnection {
  private readonly subscribed = new Set<string>()
  private outputs = new Map<string, string[]>()
  private states: Slot[] = []
  private keyed = new Map<string, number>()
  private lastOutput = -Infinity
  private lastState = -Infinity
  private armedFor = Infinity
  private timer: ReturnType<typeof setTimeout> | undefined
  private immediate: ReturnType<typeof setImmediate> | undefined
  private closed = false
  private readonly outputMs: number
  private readonly stateMs: number

  constructor(private readonly deps: ConnectionDeps) {
    this.outputMs = deps.outputFlushMs ?? OUTPUT_FLUSH_MS
    this.stateMs = deps.stateFlushMs ?? STATE_FLUSH_MS
  }

  /** A host event; queued for this connection if it wants it. */
  push(event: EventName, payload: unknown): void {
    if (this.closed) return
    if (event === 'terminal.output') {
      const { name, data } = payload as { name: string; data: string }
      if (!this.subscribed.has(name) || !data) return
      const list = this.outputs.get(name)
      if (!list) this.outputs.set(name, [data])
      else if (list[list.length - 1].length + data.length <= MAX_OUTPUT_PER_EVENT) list[list.length - 1] += data
      else list.push(data)
    } else {
      const key = latestKey(event, payload)
      const prev = key === undefined ? undefined : this.keyed.get(key)
      if (prev !== undefined) {
        const old = this.states[prev]
        this.states[prev] = null
        // A message's first `sent` names the placeholder it replaces; a later state must keep saying so.
        const replaces = event === 'message.changed' ? (old?.payload as FeedMessage | undefined)?.replaces : undefined
        if (replaces && !(payload as FeedMessage).replaces) payload = { ...(payload as FeedMessage), replaces }
      }
      if (key !== undefined) this.keyed.set(key, this.states.length)
      this.states.push({ event, payload })
    }
    this.arm()
  }

  /** Send everything queued now (a transport calls this before a result, so a result never overtakes an event). */
  flush(): void {
    this.send(true, true)
  }

  private arm(): void {
    if (this.closed) return
    const now = performance.now()
    let due = Infinity
    if (this.outputs.size) due = Math.min(due, this.lastOutput + this.outputMs)
    if (this.states.length) due = Math.min(due, this.lastState + this.stateMs)
    if (due === Infinity || due >= this.armedFor) return
    this.disarm()
    this.armedFor = due
    const run = () => {
      this.timer = undefined
      this.immediate = undefined
      this.armedFor = Infinity
      const t = performance.now()
      this.send(t >= this.lastOutput + this.outputMs - 1, t >= this.lastState + this.stateMs - 1)
      this.arm()
    }
    if (due <= now) this.immediate = setImmediate(run)
    else this.timer = setTimeout(run, due - now)
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer)
    if (this.immediate) clearImmediate(this.immediate)
    this.timer = undefined
    this.immediate = undefined
    this.armedFor = Infinity
  }

  private send(outputs: boolean, states: boolean): void {
    if (this.closed) return
    const batch: EventBatch = []
    const now = performance.now()
    if (outputs && this.outputs.size) {
      this.lastOutput = now
      const queued = this.outputs
      this.outputs = new Map()
      for (const [name, chunks] of queued) {
        // Unsubscribed since it was queued: the viewer is gone, and so is its flow account.
        if (!this.subscribed.has(name)) continue
        for (const data of chunks) {
          this.deps.flow.sent(this, name, data.length)
          batch.push({ event: 'terminal.output', payload: { name, data } })
        }
      }
    }
    if (states && this.states.length) {
      this.lastState = now
      const queued = this.states
      this.states = []
      this.keyed = new Map()
      for (const slot of queued) if (slot) batch.push(slot)
    }
    if (batch.length) this.deps.send(batch)
  }

  /** A command from this connection: its own (subscribe, unsubscribe, ack) or the host's. */
  async invoke(command: string, request: unknown): Promise<CommandOutcome<CommandName>> {
    if (command !== 'terminal.subscribe' && command !== 'terminal.unsubscribe' && command !== 'terminal.ack') {
      return this.deps.invoke(command, request)
    }
    const parsed = parseRequest(command as ConnectionCommand, request)
    if (!parsed.ok) return parsed
    const { name } = parsed.value
    try {
      switch (command) {
        case 'terminal.subscribe': {
          // The scrollback flushes the agent's pending batch first; those bytes are in it,
          // so they must not also arrive as events: subscribe only after reading it.
          this.subscribed.delete(name)
          this.deps.flow.drop(this, name)
          const data = this.deps.scrollback(name)
          this.subscribed.add(name)
          return { ok: true, result: { data } }
        }
        case 'terminal.unsubscribe':
          this.subscribed.delete(name)
          this.deps.flow.drop(this, name)
          return { ok: true, result: { ok: true } }
        case 'terminal.ack':
          this.deps.flow.acked(this, name, (parsed.value as { chars: number }).chars)
          return { ok: true, result: { ok: true } }
      }
    } catch (err) {
      return { ok: false, error: { code: (err as { code?: string }).code ?? 'internal_error', message: (err as Error).message } }
    }
    return { ok: false, error: { code: 'unknown_command', message: `unknown command: ${command}` } }
  }

  subscriptions(): string[] {
    return [...this.subscribed]
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.disarm()
    this.outputs = new Map()
    this.states = []
    this.subscribed.clear()
    this.deps.flow.dropAll(this)
  }
}
