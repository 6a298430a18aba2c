/**
 * A scripted model server on 127.0.0.1 that speaks the APIs of the real agent CLIs, so
 * Claude Code, Codex, Gemini CLI and opencode run for real and offline in tests:
 *
 *   anthropic  POST /v1/messages (SSE), /v1/messages/count_tokens     (Claude Code)
 *   responses  POST /v1/responses (SSE)                                (Codex)
 *   gemini     POST /v1beta/models/<m>:streamGenerateContent?alt=sse,
 *              :generateContent, :countTokens                        (Gemini CLI)
 *   chat       POST /v1/chat/completions (SSE)                         (opencode)
 *
 * A test scripts the model with a responder: every request is parsed into one neutral
 * ModelRequest (the last user turn's text, the tools offered, tool results) and the
 * responder answers text or a tool call by its short name (`send_dm`); each API
 * adapter resolves that to the name the CLI offered and streams it in that API's shape.
 * Every request is recorded, so a test can check what reached the model, in order.
 *
 *   const model = await startModelServer()
 *   model.setResponder((req) => req.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'user', text: 'hi' } })
 *   await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello'), 30_000)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync, inflateSync, brotliDecompressSync } from 'node:zlib'

export type ModelApi = 'anthropic' | 'responses' | 'gemini' | 'chat'

export interface ToolResult {
  /** The tool's name as the CLI offered it, when the API says. */
  name?: string
  callId?: string
  output: string
}

export interface ModelRequest {
  /** 1, 2, … in arrival order. */
  seq: number
  api: ModelApi
  method: string
  path: string
  at: number
  /**
   * `turn`: a request that carries the conversation and expects the agent's answer.
   * `aux`: the CLI's own side requests (titles, summaries, token counts, warm-ups);
   * the adapter answers those itself and never asks the responder.
   */
  kind: 'turn' | 'aux'
  /** Text of the last user message (all its text parts joined with '\n'); '' when none. */
  userText: string
  /** Text of every user message of the conversation, in order (tool results excluded). */
  userTurns: string[]
  /** Names of the tools offered, exactly as the CLI named them. */
  toolNames: string[]
  /** Tool results carried by the request since the last assistant turn. */
  toolResults: ToolResult[]
  /** The parsed JSON body. */
  body: unknown
}

export type ModelReply =
  | { text: string; delayMs?: number }
  /** A tool call; `tool` is a short name (`send_dm`) or a name exactly as offered. */
  | { tool: string; args: Record<string, unknown>; text?: string; delayMs?: number }

export type Responder = (req: ModelRequest) => ModelReply | Promise<ModelReply>

/** What an adapter gets for one HTTP request. */
export interface AdapterContext {
  method: string
  url: URL
  body: unknown
  res: ServerResponse
  /** Record the parsed request (assigns seq, api, at); returns it. */
  record(parsed: Omit<ModelRequest, 'seq' | 'api' | 'at' | 'method' | 'path' | 'body'>): ModelRequest
  /** Ask the responder (turn requests only) and wait out its delay; aborted if the client went away. */
  decide(req: ModelRequest): Promise<ModelReply>
}

export interface ApiAdapter {
  api: ModelApi
  /** Whether this adapter serves the request. */
  matches(method: string, url: URL): boolean
  /** Parse, record, answer. Errors become a 500 with the message (and are recorded as `errors`). */
  handle(ctx: AdapterContext): Promise<void>
}

/** The offered tool a short name means: exact, else the one ending in `_<short>` / `__<short>` / `.<short>`. */
export function resolveToolName(short: string, offered: string[]): string | undefined {
  if (offered.includes(short)) return short
  return offered.find((n) => n.endsWith(`__${short}`) || n.endsWith(`_${short}`) || n.endsWith(`.${short}`))
}

export interface ModelServer {
  /** `http://127.0.0.1:PORT` (no path). */
  readonly url: string
  readonly port: number
  readonly requests: ModelRequest[]
  /** Problems the server met (a request it did not understand, an adapter error). A test should expect none. */
  readonly errors: string[]
  /** Turn requests only. */
  turns(api?: ModelApi): ModelRequest[]
  setResponder(fn: Responder): void
  /** Resolves with the first recorded request (past or future) that matches; rejects after timeoutMs. */
  waitFor(pred: (r: ModelRequest) => boolean, timeoutMs: number, what?: string): Promise<ModelRequest>
  close(): Promise<void>
}

export const DEFAULT_REPLY: ModelReply = { text: 'OK.' }

export interface ModelServerOptions {
  adapters?: ApiAdapter[]
  responder?: Responder
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  let buf: Buffer = Buffer.concat(chunks)
  const enc = String(req.headers['content-encoding'] ?? '').toLowerCase()
  if (enc === 'gzip') buf = gunzipSync(buf)
  else if (enc === 'deflate') buf = inflateSync(buf)
  else if (enc === 'br') buf = brotliDecompressSync(buf)
  else if (enc === 'zstd') {
    const z = (await import('node:zlib')) as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }
    if (!z.zstdDecompressSync) throw new Error('zstd request body: this Node has no zstd')
    buf = z.zstdDecompressSync(buf)
  }
  if (!buf.length) return undefined
  const text = buf.toString('utf8')
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export async function startModelServer(opts: ModelServerOptions = {}): Promise<ModelServer> {
  const adapters = opts.adapters ?? (await defaultAdapters())
  let responder: Responder = opts.responder ?? (() => DEFAULT_REPLY)
  const requests: ModelRequest[] = []
  const errors: string[] = []
  const waiters = new Set<{ pred: (r: ModelRequest) => boolean; resolve: (r: ModelRequest) => void }>()
  let seq = 0

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1')
      const method = req.method ?? 'GET'
      const adapter = adapters.find((a) => a.matches(method, url))
      let body: unknown
      try {
        body = await readBody(req)
      } catch (err) {
        errors.push(`${method} ${url.pathname}: unreadable body: ${(err as Error).message}`)
        res.writeHead(400).end()
        return
      }
      if (!adapter) {
        errors.push(`${method} ${url.pathname}${url.search}: no adapter`)
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }))
        return
      }
      let gone = false
      res.on('close', () => {
        gone = true
      })
      const ctx: AdapterContext = {
        method,
        url,
        body,
        res,
        record(parsed) {
          const r: ModelRequest = { ...parsed, seq: ++seq, api: adapter.api, at: Date.now(), method, path: url.pathname, body }
          requests.push(r)
          for (const w of [...waiters]) {
            if (w.pred(r)) {
              waiters.delete(w)
              w.resolve(r)
            }
          }
          return r
        },
        async decide(r) {
          const reply = await responder(r)
          if (reply.delayMs && reply.delayMs > 0) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, reply.delayMs)
              res.on('close', () => {
                clearTimeout(t)
                resolve()
              })
            })
          }
          if (gone) throw new Error('client went away')
          return reply
        },
      }
      try {
        await adapter.handle(ctx)
      } catch (err) {
        const msg = (err as Error).message
        if (msg === 'client went away') return
        errors.push(`${adapter.api} ${method} ${url.pathname}: ${msg}`)
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
        res.end(res.headersSent ? undefined : JSON.stringify({ error: { message: msg } }))
      }
    })()
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    errors,
    turns: (api) => requests.filter((r) => r.kind === 'turn' && (!api || r.api === api)),
    setResponder(fn) {
      responder = fn
    },
    waitFor(pred, timeoutMs, what = 'a matching model request') {
      const hit = requests.find(pred)
      if (hit) return Promise.resolve(hit)
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (r: ModelRequest) => {
            clearTimeout(t)
            resolve(r)
          },
        }
        const t = setTimeout(() => {
          waiters.delete(w)
          const seen = requests.map((r) => `${r.api}/${r.kind}:${JSON.stringify(r.userText.slice(0, 60))}`).join(', ')
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${requests.length} requests so far: ${seen}`))
        }, timeoutMs)
        waiters.add(w)
      })
    },
    close() {
      for (const w of waiters) waiters.delete(w)
      return new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
    },
  }
}

/** The four adapters (loaded lazily so one API's module can be worked on alone). */
export async function defaultAdapters(): Promise<ApiAdapter[]> {
  const mods = await Promise.all([import('./anthropic'), import('./responses'), import('./gemini'), import('./chat')])
  return mods.map((m) => m.adapter)
}

/** Server-sent events on a response. */
export function sse(res: ServerResponse): { event(name: string | undefined, data: unknown): void; raw(line: string): void; end(): void } {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  return {
    event(name, data) {
      res.write(`${name ? `event: ${name}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
    },
    raw(line) {
      res.write(line)
    },
    end() {
      res.end()
    },
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/**
 * A value that fits a (simple) JSON schema, for a CLI's side requests that ask for
 * structured output (titles, next-speaker checks). `byKey` answers chosen properties;
 * `text` gives the string for a property (default "ok").
 */
export function valueForSchema(schema: unknown, opts: { byKey?: Record<string, unknown>; text?: (key: string) => string } = {}, key = ''): unknown {
  if (opts.byKey && key in opts.byKey) return opts.byKey[key]
  const s = (schema ?? {}) as { type?: string | string[]; enum?: unknown[]; properties?: Record<string, unknown> }
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0]
  const type = String(Array.isArray(s.type) ? s.type[0] : (s.type ?? (s.properties ? 'object' : 'string'))).toLowerCase()
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([k, v]) => [k, valueForSchema(v, opts, k)]))
    case 'array':
      return []
    case 'boolean':
      return false
    case 'number':
    case 'integer':
      return 0
    case 'null':
      return null
    default:
      return opts.text?.(key) ?? 'ok'
  }
}
