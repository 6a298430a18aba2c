/**
 * A scripted fake engine for broker fault tests: a `ws` server on 127.0.0.1 speaking
 * node wire v1 at `/v1/node/ws`, plus the one REST route the broker calls
 * (`POST /v1/nodes`, the node-token mint). It keeps a per-agent mailbox (seq, ack)
 * like the real engine, so "no message lost, none typed twice" can be checked, and
 * every fault is a knob: refuse upgrades with a status (401 storm, 403, 502), drop
 * the socket (now, or mid-delivery), blackhole it, send a frame twice or out of
 * order, never answer agent.register, answer it late or with another id.
 *
 * Everything the broker sends is recorded (`frames`) and can be awaited with a bound
 * (`waitFrame`), so no test sleeps.
 */
import { EventEmitter } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import { decodeNodeFrame, DELIVERY_CURSOR_CAPABILITY, type NodeToServerFrame } from '../../shared/wire'

export interface RecordedFrame {
  conn: number
  at: number
  frame: NodeToServerFrame
  raw: string
}

export interface MailItem {
  seq: number
  msgId: string
  deliveryId: string
  payload: unknown
  mode: 'wait' | 'steer'
}

export interface FakeAgent {
  name: string
  agentId: string
  nextSeq: number
  acked: number
  mail: MailItem[]
  /** Bound to the current connection (registered or listed in inventory.sync on it). */
  bound: boolean
}

/** How to answer an agent.register. */
export type RegisterPolicy =
  | 'reply'
  | 'never'
  | { kind: 'late'; afterMs: number }
  | { kind: 'other-id' }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'extra-field' }

export interface FakeEngineOptions {
  /** Send delivery_ack_seq in agent.register replies to cursor-aware nodes (the real engine does). */
  sendDeliveryAckSeq?: boolean
  /** Replay unacked mail when an agent is (re)bound (agent.register / inventory.sync). */
  replayOnBind?: boolean
  /** Answer node.register / inventory.sync with a reply frame (fresh id), as the real engine does. */
  replyToNodeFrames?: boolean
}

let ids = 0
const nextId = (p: string) => `${p}${(++ids).toString(36)}_${Math.random().toString(36).slice(2, 8)}`

export class FakeEngine extends EventEmitter {
  readonly frames: RecordedFrame[] = []
  readonly agents = new Map<string, FakeAgent>()
  /** Tokens accepted at the upgrade. */
  readonly validTokens = new Set<string>()
  /** Upgrade attempts: auth header token and the status answered (101 = accepted). */
  readonly upgrades: Array<{ token: string | undefined; status: number; at: number; path: string }> = []
  /** Ordered record of upgrades and mints: `upgrade:401`, `mint`, `upgrade:101`, … */
  readonly timeline: string[] = []
  /** POST /v1/nodes calls. */
  readonly mints: Array<{ body: unknown; at: number }> = []
  /** Next upgrade answers, consumed one per attempt (a status, or 'accept'); then the default rule. */
  upgradeScript: Array<number | 'accept'> = []
  /** When set, every upgrade is refused with this status. */
  refuseAll: number | undefined
  /** Next mint answers (a status), consumed one per call; then 200. */
  mintScript: number[] = []
  register: RegisterPolicy = 'reply'
  /** Send an `error` frame answering node.register (e.g. node_id_mismatch). */
  rejectNodeRegister: { code: string; message: string } | undefined
  connections = 0
  /** deliver frames written to a socket (first sends and resends). */
  deliversSent = 0
  private socket: WebSocket | undefined
  private rawSocket: Socket | undefined
  private cursorAware = false
  private readonly http: Server
  private readonly wss: WebSocketServer
  private readonly opts: Required<FakeEngineOptions>
  url = ''
  port = 0

  constructor(opts: FakeEngineOptions = {}) {
    super()
    this.setMaxListeners(100)
    this.opts = { sendDeliveryAckSeq: true, replayOnBind: true, replyToNodeFrames: true, ...opts }
    this.http = createServer((req, res) => this.onHttp(req, res))
    this.wss = new WebSocketServer({ noServer: true })
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket as Socket, head))
  }

  async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.http.listen(port, '127.0.0.1', resolve))
    this.port = (this.http.address() as AddressInfo).port
    this.url = `http://127.0.0.1:${this.port}`
    return this
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate()
    this.wss.close()
    this.http.closeAllConnections?.()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
  }

  get connected(): boolean {
    return !!this.socket && this.socket.readyState === this.socket.OPEN
  }

  // ---- REST -------------------------------------------------------------------

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(json))
      }
      if (req.method === 'POST' && req.url === '/v1/nodes') {
        let parsed: unknown
        try {
          parsed = JSON.parse(body)
        } catch {
          parsed = body
        }
        this.mints.push({ body: parsed, at: Date.now() })
        this.timeline.push('mint')
        this.emit('mint')
        const status = this.mintScript.shift()
        if (status && status !== 200) return send(status, { ok: false, error: { code: 'mint_failed', message: `scripted ${status}` } })
        const token = nextId('nt_')
        this.validTokens.add(token)
        const nodeId = (parsed as { node_id?: string })?.node_id ?? 'node_x'
        return send(201, { ok: true, data: { id: nodeId, name: (parsed as { name?: string })?.name ?? 'n', token } })
      }
      send(404, { ok: false, error: { code: 'not_found', message: 'no such route' } })
    })
  }

  /** Mint a token the engine accepts (for pinned/cached token tests). */
  issueToken(): string {
    const t = nextId('nt_')
    this.validTokens.add(t)
    return t
  }

  // ---- socket -----------------------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const auth = req.headers.authorization
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : new URL(req.url ?? '/', this.url).searchParams.get('token') ?? undefined
    const scripted = this.upgradeScript.shift()
    let status: number
    if (this.refuseAll !== undefined) status = this.refuseAll
    else if (scripted !== undefined) status = scripted === 'accept' ? 101 : scripted
    else status = token && this.validTokens.has(token) ? 101 : 401
    if (!req.url?.startsWith('/v1/node/ws')) status = 404
    this.upgrades.push({ token, status, at: Date.now(), path: req.url ?? '' })
    this.timeline.push(`upgrade:${status}`)
    this.emit('upgrade', status)
    if (status !== 101) {
      socket.end(`HTTP/1.1 ${status} Refused\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket))
  }

  private onConnection(ws: WebSocket, raw: Socket): void {
    const conn = ++this.connections
    this.socket?.terminate()
    this.socket = ws
    this.rawSocket = raw
    for (const a of this.agents.values()) a.bound = false
    ws.on('message', (data) => {
      const text = data.toString()
      const decoded = decodeNodeFrame(text)
      if (!decoded.ok) {
        this.emit('invalid', text, decoded.reason)
        return
      }
      const rec: RecordedFrame = { conn, at: Date.now(), frame: decoded.frame, raw: text }
      this.frames.push(rec)
      this.onFrame(ws, decoded.frame)
      this.emit('frame', rec)
    })
    ws.on('close', () => {
      if (this.socket === ws) this.socket = undefined
      this.emit('disconnect', conn)
    })
    this.emit('connection', conn)
  }

  private sendOn(ws: WebSocket | undefined, frame: unknown): boolean {
    if (!ws || ws.readyState !== ws.OPEN) return false
    ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
    return true
  }

  /** Send any frame (object or raw text) on the current socket. */
  send(frame: unknown): boolean {
    return this.sendOn(this.socket, frame)
  }

  private onFrame(ws: WebSocket, f: NodeToServerFrame): void {
    switch (f.type) {
      case 'node.register':
        this.cursorAware = f.capabilities.some((c) => c.name === DELIVERY_CURSOR_CAPABILITY)
        if (this.rejectNodeRegister) {
          this.sendOn(ws, { type: 'error', v: 1, id: nextId('req_'), ok: false, ...this.rejectNodeRegister })
        } else if (this.opts.replyToNodeFrames) {
          this.sendOn(ws, { type: 'reply', v: 1, id: nextId('snow_'), ok: true, data: { id: f.node_id, name: f.name } })
        }
        return
      case 'agent.register':
        return this.onAgentRegister(ws, f.id, f.name)
      case 'inventory.sync':
        if (this.opts.replyToNodeFrames) this.sendOn(ws, { type: 'reply', v: 1, id: nextId('snow_'), ok: true, data: { rebound_agents: [] } })
        for (const item of f.agents) {
          const a = this.agents.get(item.name)
          if (!a || a.agentId !== item.agent_id) continue
          const wasBound = a.bound
          a.bound = true
          if (!wasBound && this.opts.replayOnBind) this.replay(a.name)
        }
        return
      case 'delivery.ack': {
        const a = this.agents.get(f.agent)
        if (a && f.up_to_seq > a.acked) a.acked = Math.min(f.up_to_seq, a.nextSeq - 1)
        return
      }
      case 'agent.deregister': {
        for (const a of this.agents.values()) if (a.agentId === f.agent_id) a.bound = false
        return
      }
      default:
        return
    }
  }

  private agentFor(name: string): FakeAgent {
    let a = this.agents.get(name)
    if (!a) {
      a = { name, agentId: nextId('agt_'), nextSeq: 1, acked: 0, mail: [], bound: false }
      this.agents.set(name, a)
    }
    return a
  }

  private onAgentRegister(ws: WebSocket, id: string, name: string): void {
    const a = this.agentFor(name)
    const data: Record<string, unknown> = { agent_id: a.agentId, token: nextId('at_live_'), name }
    if (this.cursorAware && this.opts.sendDeliveryAckSeq) data.delivery_ack_seq = a.acked
    const bindAndReplay = () => {
      a.bound = true
      if (this.opts.replayOnBind) this.replay(name)
    }
    const policy = this.register
    if (policy === 'never') return
    if (policy === 'reply') {
      this.sendOn(ws, { type: 'reply', v: 1, id, ok: true, data })
      return bindAndReplay()
    }
    switch (policy.kind) {
      case 'late':
        setTimeout(() => this.sendOn(ws, { type: 'reply', v: 1, id, ok: true, data }), policy.afterMs)
        return
      case 'other-id':
        this.sendOn(ws, { type: 'reply', v: 1, id: nextId('regen_'), ok: true, data })
        return bindAndReplay()
      case 'error':
        this.sendOn(ws, { type: 'error', v: 1, id, ok: false, code: policy.code, message: policy.message })
        return
      case 'extra-field':
        this.sendOn(ws, { type: 'reply', v: 1, id, ok: true, data: { ...data, session_ref: 'x' } })
        return
    }
  }

  // ---- mailbox ----------------------------------------------------------------

  /** Create the agent's mailbox with a known identity ahead of registration (e.g. an acked position). */
  seedAgent(name: string, acked = 0): FakeAgent {
    const a = this.agentFor(name)
    a.acked = acked
    a.nextSeq = Math.max(a.nextSeq, acked + 1)
    return a
  }

  /** Queue a DM for `agent` (next seq) and send it now if the agent is bound. */
  post(agent: string, text: string, opts: { from?: string; mode?: 'wait' | 'steer'; send?: boolean; payload?: unknown } = {}): MailItem {
    const a = this.agentFor(agent)
    const seq = a.nextSeq++
    const msgId = nextId('msg_')
    const item: MailItem = {
      seq,
      msgId,
      deliveryId: nextId('dlv_'),
      mode: opts.mode ?? 'wait',
      payload: opts.payload ?? { type: 'dm.received', data: { id: msgId, agent_name: opts.from ?? 'alice', text } },
    }
    a.mail.push(item)
    if (opts.send !== false && a.bound) this.deliver(agent, item)
    return item
  }

  deliverFrame(agent: string, item: MailItem, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const a = this.agentFor(agent)
    return {
      type: 'deliver',
      v: 1,
      agent,
      agent_id: a.agentId,
      delivery_id: item.deliveryId,
      msg_id: item.msgId,
      seq: item.seq,
      mode: item.mode,
      payload: item.payload,
      ...extra,
    }
  }

  deliver(agent: string, item: MailItem, extra: Record<string, unknown> = {}): boolean {
    const sent = this.send(this.deliverFrame(agent, item, extra))
    if (sent) this.deliversSent++
    return sent
  }

  /** Resend every unacked item, in seq order. */
  replay(agent: string): void {
    const a = this.agents.get(agent)
    if (!a) return
    for (const item of a.mail) if (item.seq > a.acked) this.deliver(agent, item)
  }

  // ---- faults -----------------------------------------------------------------

  /** Drop the socket from the server side, no close frame (like a crashed engine or a NAT reset). */
  dropSocket(): void {
    this.socket?.terminate()
    this.socket = undefined
  }

  /** Stop reading the socket: nothing the broker sends arrives, not even WS ping (a blackhole). */
  blackhole(): void {
    this.rawSocket?.pause()
    this.socket?.pause()
  }

  // ---- waiting ----------------------------------------------------------------

  framesOf<T extends NodeToServerFrame['type']>(type: T, since = 0): Array<Extract<NodeToServerFrame, { type: T }>> {
    return this.frames
      .slice(since)
      .map((r) => r.frame)
      .filter((f): f is Extract<NodeToServerFrame, { type: T }> => f.type === type)
  }

  /** Resolve with the first recorded frame (from index `since`) matching `pred`, or fail after `timeoutMs`. */
  waitFrame<T extends NodeToServerFrame['type']>(
    type: T,
    pred: (f: Extract<NodeToServerFrame, { type: T }>) => boolean = () => true,
    opts: { since?: number; timeoutMs?: number } = {},
  ): Promise<Extract<NodeToServerFrame, { type: T }>> {
    const match = (f: NodeToServerFrame): f is Extract<NodeToServerFrame, { type: T }> =>
      f.type === type && pred(f as Extract<NodeToServerFrame, { type: T }>)
    const hit = this.frames.slice(opts.since ?? 0).find((r) => match(r.frame))
    if (hit) return Promise.resolve(hit.frame as Extract<NodeToServerFrame, { type: T }>)
    return this.waitEvent<Extract<NodeToServerFrame, { type: T }>>(
      'frame',
      (r: RecordedFrame) => (match(r.frame) ? r.frame : undefined),
      opts.timeoutMs ?? 5000,
      `a ${type} frame`,
    )
  }

  /** Resolve once `event` fires with args for which `pick` returns a value. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  waitEvent<T>(event: string, pick: (...args: any[]) => T | undefined, timeoutMs: number, what = event): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, on)
        reject(new Error(`fake engine: timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const on = (...args: any[]) => {
        const v = pick(...args)
        if (v === undefined) return
        clearTimeout(timer)
        this.off(event, on)
        resolve(v)
      }
      this.on(event, on)
    })
  }

  /** Wait until the agent's acked seq reaches `seq`. */
  async waitAcked(agent: string, seq: number, timeoutMs = 5000): Promise<void> {
    if ((this.agents.get(agent)?.acked ?? 0) >= seq) return
    await this.waitEvent('frame', () => ((this.agents.get(agent)?.acked ?? 0) >= seq ? true : undefined), timeoutMs, `${agent} acked up to ${seq}`)
  }

  /** Wait for the next accepted connection (after `after` connections). */
  async waitConnection(after = this.connections, timeoutMs = 5000): Promise<number> {
    if (this.connections > after && this.connected) return this.connections
    return this.waitEvent('connection', (n: number) => (n > after ? n : undefined), timeoutMs, `connection #${after + 1}`)
  }
}

export async function startFakeEngine(opts?: FakeEngineOptions): Promise<FakeEngine> {
  return new FakeEngine(opts).listen()
}
