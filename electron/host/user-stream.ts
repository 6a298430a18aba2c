/**
 * The human user's push stream (`/v1/user/ws` on the engine): every message addressed to
 * the user, with replay from a cursor, and `delivery.updated` frames for messages the user
 * sent. The route is new; an engine without it answers 404, and then the stream gives up
 * quietly (the feed simply has no messages *to* the user). Frames are read tolerantly,
 * since the engine's payload shapes vary across versions.
 */
import { existsSync, readFileSync } from 'node:fs'
import WebSocket from 'ws'
import { extractFields } from '../broker/delivery-payload'
import { writeJsonAtomic } from './settings'

export interface UserMessage {
  id: string
  from: string
  text: string
  /** `#channel` when the message went to a channel the user is in. */
  channel?: string
  at: number
}

export interface DeliveryUpdate {
  messageId: string
  agent?: string
  state: string
  at: number
  detail?: string
}

export interface UserStreamOptions {
  engineUrl: string
  token: string
  userName: string
  cursorPath: string
  onMessage(m: UserMessage): void
  onDelivery(u: DeliveryUpdate): void
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void
  /** Test seam. */
  maxDelayMs?: number
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined)
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const obj = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined

function timeOf(v: unknown): number {
  if (typeof v === 'number') return v
  if (typeof v === 'string') {
    const t = Date.parse(v)
    if (!Number.isNaN(t)) return t
  }
  return Date.now()
}

/**
 * Reads one frame (engine/user/hub.ts): `message` {cursor, seq, event, message},
 * `delivery.updated` {message_id, agent_name, status, at}, `delivery.failed`
 * {message_id, recipient, reason}; anything else is ignored. Exported for tests.
 */
export function parseUserFrame(
  raw: unknown,
  userName: string,
): { kind: 'message'; message: UserMessage; cursor?: number } | { kind: 'delivery'; update: DeliveryUpdate; cursor?: number } | { kind: 'other'; cursor?: number } {
  const f = obj(raw)
  if (!f) return { kind: 'other' }
  const type = str(f.type) ?? ''
  if (type === 'delivery.updated' || type === 'delivery.failed') {
    const messageId = str(f.message_id) ?? str(f.msg_id)
    const state = type === 'delivery.failed' ? 'failed' : str(f.status) ?? str(f.state)
    if (!messageId || !state) return { kind: 'other' }
    return {
      kind: 'delivery',
      update: {
        messageId,
        agent: str(f.agent_name) ?? str(f.recipient) ?? str(f.agent),
        state,
        at: timeOf(f.at),
        detail: str(f.reason) ?? str(f.error),
      },
    }
  }
  if (type === 'message') {
    const cursor = num(f.cursor) ?? num(f.seq)
    const data = obj(f.message) ?? {}
    const id = str(data.id) ?? str(f.message_id)
    if (!id) return { kind: 'other', cursor }
    // Same shape as a node `deliver` payload, so the broker's field reader applies.
    const fields = extractFields({ type: str(f.event) ?? 'message.created', data }, userName)
    return {
      kind: 'message',
      cursor,
      message: {
        id,
        from: fields.from,
        text: fields.body,
        channel: fields.target.startsWith('#') ? fields.target : undefined,
        at: timeOf(data.created_at),
      },
    }
  }
  return { kind: 'other' }
}

export class UserStream {
  private ws: WebSocket | undefined
  private stopped = false
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private saveTimer: ReturnType<typeof setTimeout> | undefined
  private cursor = 0
  /** False once the engine said it has no such route. */
  available = true
  connected = false

  constructor(private readonly opts: UserStreamOptions) {
    try {
      if (existsSync(opts.cursorPath)) this.cursor = Number(JSON.parse(readFileSync(opts.cursorPath, 'utf8')).cursor) || 0
    } catch {
      this.cursor = 0
    }
  }

  start(): void {
    if (this.stopped) return
    const base = this.opts.engineUrl.replace(/^http/, 'ws').replace(/\/+$/, '')
    const url = `${base}/v1/user/ws${this.cursor ? `?cursor=${this.cursor}` : ''}`
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.token}` }, maxPayload: 2 << 20 })
    this.ws = ws
    ws.on('unexpected-response', (_req, res) => {
      if (res.statusCode === 404) {
        this.available = false
        this.stopped = true
        this.opts.log?.('info', 'the engine has no user stream (/v1/user/ws); messages to you will not appear in the feed')
      } else {
        this.opts.log?.('warn', `user stream refused: HTTP ${res.statusCode}`)
      }
      ws.terminate()
    })
    ws.on('open', () => {
      this.attempt = 0
      this.connected = true
    })
    ws.on('message', (data) => this.onFrame(data.toString()))
    ws.on('error', () => undefined)
    ws.on('close', () => {
      this.connected = false
      if (this.ws === ws) this.ws = undefined
      this.retry()
    })
  }

  private onFrame(text: string): void {
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch {
      return
    }
    const parsed = parseUserFrame(raw, this.opts.userName)
    if (parsed.kind === 'message') this.opts.onMessage(parsed.message)
    else if (parsed.kind === 'delivery') this.opts.onDelivery(parsed.update)
    if (parsed.cursor !== undefined && parsed.cursor > this.cursor) {
      this.cursor = parsed.cursor
      this.scheduleSave()
      // Acked once it is in the feed: the sender then sees it reached the user.
      if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ack', up_to_seq: parsed.cursor }))
    }
  }

  /**
   * Debounced: a replay after a reconnect can be thousands of frames, and four blocking
   * file calls per frame would stall the loop that carries PTY output and keystrokes.
   * A cursor lost in a crash only repeats a few messages; the feed dedups by id.
   */
  private scheduleSave(): void {
    if (this.saveTimer) return
    this.saveTimer = setTimeout(() => this.saveCursor(), 200)
    this.saveTimer.unref?.()
  }

  private saveCursor(): void {
    clearTimeout(this.saveTimer)
    this.saveTimer = undefined
    try {
      writeJsonAtomic(this.opts.cursorPath, { cursor: this.cursor }, 0o600, false)
    } catch {
      // the next replay repeats a few messages; the feed dedups by id
    }
  }

  private retry(): void {
    if (this.stopped || this.timer) return
    const delay = Math.min(this.opts.maxDelayMs ?? 30_000, 1000 * 2 ** this.attempt) * (0.5 + Math.random() / 2)
    this.attempt += 1
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.start()
    }, delay)
    this.timer.unref?.()
  }

  stop(): void {
    if (this.saveTimer) this.saveCursor()
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.ws?.close(1000, 'app is quitting')
    this.ws = undefined
  }
}
