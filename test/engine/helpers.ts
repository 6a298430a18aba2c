/** Test harness: real engine on port 0, temp SQLite dir, real ws client. No sleeps. */
import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import { startEngine, type EngineOptions, type RunningEngine } from '../../electron/engine'

export interface Api {
  status: number
  body: { ok: boolean; data?: any; error?: { code: string; message: string } }
}

export async function api(base: string, method: string, path: string, opts: { token?: string; body?: unknown; raw?: string } = {}): Promise<Api> {
  const headers: Record<string, string> = {}
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  let body: string | undefined
  if (opts.raw !== undefined) body = opts.raw
  else if (opts.body !== undefined) body = JSON.stringify(opts.body)
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, { method, headers, body })
  return { status: res.status, body: (await res.json()) as Api['body'] }
}

/** Polls `check` until it returns a truthy value or the bound passes. */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 3000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export type Frame = Record<string, any>

/** A ws node client that records every frame and lets tests await specific ones. */
export class NodeClient {
  readonly frames: Frame[] = []
  private listeners: Array<() => void> = []
  closed: { code: number; reason: string } | undefined

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame)
      for (const l of this.listeners) l()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      for (const l of this.listeners) l()
    })
  }

  static connect(url: string, token: string): Promise<NodeClient> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/node/ws', { headers: { authorization: `Bearer ${token}` } })
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new NodeClient(ws)))
      ws.once('error', reject)
    })
  }

  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** Resolves with the first frame (from index `from`) matching `pred`. */
  next(pred: (f: Frame) => boolean, timeoutMs = 3000, from = 0): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.frames.slice(from).find(pred)
        if (hit) {
          done()
          resolve(hit)
        } else if (this.closed) {
          done()
          reject(new Error(`socket closed (${this.closed.code}) before frame arrived`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out waiting for frame; got ${JSON.stringify(this.frames.slice(from))}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.listeners = this.listeners.filter((l) => l !== check)
      }
      this.listeners.push(check)
      check()
    })
  }

  delivers(): Frame[] {
    return this.frames.filter((f) => f.type === 'deliver')
  }

  async register(name: string, nodeId: string, capabilities: Array<{ name: string; kind?: string }> = []): Promise<Frame> {
    const from = this.frames.length
    this.send({ type: 'node.register', v: 1, name, node_id: nodeId, capabilities, max_agents: 0, tags: [], version: 'relay-broker/test', resume_cursor: null })
    this.send({ type: 'node.heartbeat', v: 1, active_agents: 0, handlers_live: true, load: 0 })
    return this.next((f) => f.type === 'reply' && f.data?.id === nodeId, 3000, from)
  }

  async registerAgent(name: string, id = `agent_register_${name}_${this.frames.length}`): Promise<Frame> {
    const from = this.frames.length
    this.send({ type: 'agent.register', v: 1, id, name })
    return this.next((f) => f.id === id, 3000, from)
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve())
      this.ws.close()
    })
  }
}

export interface Harness {
  engine: RunningEngine
  url: string
  dataDir: string
  stop(): Promise<void>
}

export async function startTestEngine(opts: Partial<EngineOptions> = {}, dataDir?: string): Promise<Harness> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'relay-engine-'))
  const engine = await startEngine({ port: 0, dataDir: dir, ...opts })
  return {
    engine,
    url: engine.url,
    dataDir: dir,
    stop: async () => {
      await engine.close('test_done')
      if (!dataDir) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export interface World {
  wsKey: string
  workspaceId: string
  nodeId: string
  nodeName: string
  nodeToken: string
  aliceToken: string
}

/** Workspace + enrolled node + a REST-created sender agent "alice". */
export async function seedWorld(url: string, nodeName = 'builder-1'): Promise<World> {
  const ws = await api(url, 'POST', '/v1/workspaces', { body: { name: 'acme' } })
  const wsKey = ws.body.data.api_key as string
  const nodeId = `node_${nodeName.replace(/\W/g, '')}`
  const node = await api(url, 'POST', '/v1/nodes', { token: wsKey, body: { node_id: nodeId, name: nodeName, kind: 'ws', role: 'broker', version: 'relay-broker/9.1.6' } })
  const alice = await api(url, 'POST', '/v1/agents', { token: wsKey, body: { name: 'alice', type: 'human' } })
  return { wsKey, workspaceId: ws.body.data.workspace_id, nodeId, nodeName, nodeToken: node.body.data.token, aliceToken: alice.body.data.token }
}

/**
 * POST a body too big for the engine with node:http, which reads the early 413 even if
 * the server cuts the rest of the upload (fetch reports that as a network error, and
 * under load @hono/node-server stops draining after 500 ms).
 */
export function postOversized(base: string, path: string, token: string, body: string): Promise<Api> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    })
    let answered = false
    req.on('response', (res) => {
      answered = true
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Api['body'] }))
      res.on('error', reject)
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    req.end(body)
  })
}

/** Raw upgrade attempt (fetch cannot upgrade), to see the HTTP status the engine answers with. */
export function upgradeStatus(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}${path}`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, body: null })
    })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A user-socket client (/v1/user/ws) that records frames; `opened` holds every one not yet closed. */
export class UserClient {
  static readonly opened = new Set<UserClient>()
  readonly frames: Frame[] = []
  closed: { code: number; reason: string } | undefined
  private waiters: Array<() => void> = []
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()) as Frame)
      for (const w of this.waiters) w()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      for (const w of this.waiters) w()
    })
  }
  static async open(url: string, token: string, query = ''): Promise<UserClient> {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/user/ws?token=${token}${query}`)
    const c = new UserClient(ws) // listen before open: the hello may arrive with the upgrade
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve())
      ws.once('error', reject)
    })
    UserClient.opened.add(c)
    await c.next((f) => f.type === 'hello')
    return c
  }
  next(pred: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.frames.find(pred)
        if (hit) {
          done()
          resolve(hit)
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out; frames: ${JSON.stringify(this.frames)}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters = this.waiters.filter((w) => w !== check)
      }
      this.waiters.push(check)
      check()
    })
  }
  messages(): Frame[] {
    return this.frames.filter((f) => f.type === 'message')
  }
  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }
  close(): Promise<void> {
    UserClient.opened.delete(this)
    if (this.closed) return Promise.resolve()
    return new Promise((r) => {
      this.ws.once('close', () => r())
      this.ws.close()
    })
  }
}
