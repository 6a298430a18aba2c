/**
 * The headless transport: the same contract over an authenticated loopback WebSocket.
 * It reconnects with capped, jittered exponential backoff and reports link changes so the
 * UI can say "disconnected from host" and re-fetch state once the link is back. Commands are
 * not queued while the link is down: they reject at once, and a re-fetch after reconnect
 * brings the screen back in line, which is simpler to reason about than replaying writes.
 */
import { z } from 'zod'
import { BridgeError } from './errors'
import { isEventName } from './event-names'
import { unwrapOutcome } from './outcome'
import type { Bridge, BridgeEventListener } from './types'

/** The part of the DOM WebSocket this bridge uses, so tests can hand in a fake. */
export interface SocketLike {
  readonly readyState: number
  send(data: string): void
  close(): void
  onopen: ((ev: unknown) => void) | null
  onclose: ((ev: unknown) => void) | null
  onerror: ((ev: unknown) => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
}

export interface WebSocketBridgeOptions {
  url: string
  openSocket?: (url: string) => SocketLike
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (handle: unknown) => void
  random?: () => number
  initialDelayMs?: number
  maxDelayMs?: number
}

export interface WebSocketBridge extends Bridge {
  onConnectionChange(listener: (connected: boolean) => void): () => void
  /** Stops reconnecting and closes the socket (tests, page teardown). */
  close(): void
}

const OPEN = 1

const resultFrame = z.object({ kind: z.literal('result'), id: z.number().int(), outcome: z.unknown() })
const eventFrame = z.object({ kind: z.literal('event'), event: z.string(), payload: z.unknown() })
const serverFrameSchema = z.discriminatedUnion('kind', [
  resultFrame,
  eventFrame,
  // What the host had ready in one turn of its loop, in order.
  z.object({ kind: z.literal('batch'), frames: z.array(z.discriminatedUnion('kind', [resultFrame, eventFrame])) }),
])
type ServerFrame = z.infer<typeof resultFrame> | z.infer<typeof eventFrame>

interface Pending {
  command: string
  settle: (outcome: unknown) => void
  fail: (error: Error) => void
}

export function createWebSocketBridge(options: WebSocketBridgeOptions): WebSocketBridge {
  const openSocket = options.openSocket ?? ((url: string) => new WebSocket(url) as unknown as SocketLike)
  const setTimer = options.setTimer ?? ((fn: () => void, ms: number) => setTimeout(fn, ms))
  const clearTimer = options.clearTimer ?? ((handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>))
  const random = options.random ?? Math.random
  const initialDelay = options.initialDelayMs ?? 250
  const maxDelay = options.maxDelayMs ?? 5_000

  const eventListeners = new Set<BridgeEventListener>()
  const linkListeners = new Set<(connected: boolean) => void>()
  const pending = new Map<number, Pending>()
  let socket: SocketLike | null = null
  let connected = false
  let closedByUs = false
  let attempt = 0
  let retryTimer: unknown = null
  let nextId = 1

  function setConnected(value: boolean): void {
    connected = value
    for (const listener of linkListeners) listener(value)
  }

  function failPending(reason: string): void {
    const error = new BridgeError('disconnected', reason)
    const all = [...pending.values()]
    pending.clear()
    for (const entry of all) entry.fail(error)
  }

  function handleMessage(data: unknown): void {
    let json: unknown
    try {
      json = JSON.parse(typeof data === 'string' ? data : String(data))
    } catch {
      console.warn('[bridge] dropped a frame that is not JSON')
      return
    }
    const frame = serverFrameSchema.safeParse(json)
    if (!frame.success) {
      console.warn('[bridge] dropped a malformed frame', json)
      return
    }
    if (frame.data.kind === 'batch') {
      for (const f of frame.data.frames) handleFrame(f)
      return
    }
    handleFrame(frame.data)
  }

  function handleFrame(value: ServerFrame): void {
    if (value.kind === 'result') {
      const entry = pending.get(value.id)
      if (!entry) {
        console.warn(`[bridge] dropped a result for unknown request ${value.id}`)
        return
      }
      pending.delete(value.id)
      entry.settle(value.outcome)
      return
    }
    if (!isEventName(value.event)) {
      console.warn(`[bridge] dropped unknown event ${value.event}`)
      return
    }
    for (const listener of eventListeners) listener(value.event, value.payload)
  }

  function scheduleReconnect(): void {
    if (closedByUs || retryTimer !== null) return
    const base = Math.min(maxDelay, initialDelay * 2 ** attempt)
    // Jitter so several windows of one host don't reconnect in lockstep.
    const delay = Math.round(base * (0.5 + random() / 2))
    attempt += 1
    retryTimer = setTimer(() => {
      retryTimer = null
      connect()
    }, delay)
  }

  function connect(): void {
    const current = openSocket(options.url)
    socket = current
    current.onopen = () => {
      if (socket !== current) return
      attempt = 0
      setConnected(true)
    }
    current.onmessage = (ev) => {
      if (socket === current) handleMessage(ev.data)
    }
    current.onerror = () => {
      // A close always follows; reconnecting is handled there.
    }
    current.onclose = () => {
      if (socket !== current) return
      socket = null
      failPending('disconnected from host')
      setConnected(false)
      scheduleReconnect()
    }
  }

  connect()

  return {
    get connected() {
      return connected
    },
    invoke(command, request) {
      const current = socket
      if (!current || !connected || current.readyState !== OPEN) {
        return Promise.reject(new BridgeError('disconnected', 'disconnected from host'))
      }
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, {
          command,
          settle: (outcome) => {
            try {
              resolve(unwrapOutcome(command, outcome))
            } catch (error) {
              reject(error)
            }
          },
          fail: reject,
        })
        try {
          current.send(JSON.stringify({ id, command, request }))
        } catch (error) {
          pending.delete(id)
          reject(new BridgeError('disconnected', `could not send ${command}: ${String(error)}`))
        }
      })
    },
    onEvent(listener) {
      eventListeners.add(listener)
      return () => eventListeners.delete(listener)
    },
    onConnectionChange(listener) {
      linkListeners.add(listener)
      return () => linkListeners.delete(listener)
    },
    close() {
      closedByUs = true
      if (retryTimer !== null) clearTimer(retryTimer)
      retryTimer = null
      const current = socket
      socket = null
      failPending('bridge closed')
      if (connected) setConnected(false)
      current?.close()
    },
  }
}
