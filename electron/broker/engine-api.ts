/**
 * A small REST client for the relaycast-compatible engine. Every response is parsed
 * at this edge (envelope + data schema); failures become EngineApiError with the
 * engine's code and message, or a transport code a person can act on.
 */
import { z } from 'zod'
import {
  agentCreatedSchema,
  dmSentSchema,
  envelopeSchema,
  nodeCreatedSchema,
  workspaceCreatedSchema,
  type AgentCreated,
  type CreateNodeRequest,
  type DmSent,
  type NodeCreated,
  type WorkspaceCreated,
} from '../../shared/wire'

import { EngineApiError } from './engine-api-error'

export { EngineApiError }

export interface EngineApiOptions {
  baseUrl: string
  fetchImpl?: typeof fetch
  timeoutMs?: number
}

export class EngineApi {
  readonly baseUrl: string
  private readonly fetchImpl: typeof fetch
  private readonly timeoutMs: number

  constructor(opts: EngineApiOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.fetchImpl = opts.fetchImpl ?? fetch
    this.timeoutMs = opts.timeoutMs ?? 10_000
  }

  async request<T extends z.ZodTypeAny>(
    method: string,
    path: string,
    opts: { token?: string; body?: unknown; schema: T },
  ): Promise<z.output<T>> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    let res: Response
    try {
      res = await this.fetchImpl(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name
      throw new EngineApiError('engine_unreachable', `cannot reach the engine at ${this.baseUrl} (${cause})`)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new EngineApiError('bad_response', `engine answered ${res.status} with a body that is not JSON`, res.status)
    }
    const parsed = envelopeSchema(opts.schema).safeParse(json)
    if (!parsed.success) {
      throw new EngineApiError('bad_response', `engine answered ${method} ${path} with an unexpected shape`, res.status)
    }
    const envelope = parsed.data as { ok: true; data: z.output<T> } | { ok: false; error: { code: string; message: string } }
    if (!envelope.ok) throw new EngineApiError(envelope.error.code, envelope.error.message, res.status)
    return envelope.data
  }

  createWorkspace(name: string, key?: string): Promise<WorkspaceCreated> {
    return this.request('POST', '/v1/workspaces', { token: key, body: { name }, schema: workspaceCreatedSchema })
  }

  createNode(workspaceKey: string, body: CreateNodeRequest): Promise<NodeCreated> {
    return this.request('POST', '/v1/nodes', { token: workspaceKey, body, schema: nodeCreatedSchema })
  }

  createAgent(workspaceKey: string, body: { name: string; type?: 'agent' | 'human' | 'system' }): Promise<AgentCreated> {
    return this.request('POST', '/v1/agents', { token: workspaceKey, body, schema: agentCreatedSchema })
  }

  rotateAgentToken(workspaceKey: string, name: string): Promise<AgentCreated> {
    return this.request('POST', `/v1/agents/${encodeURIComponent(name)}/rotate-token`, {
      token: workspaceKey,
      schema: agentCreatedSchema,
    })
  }

  /** Register, or take over the token of an existing identity of the same name. */
  async ensureAgent(workspaceKey: string, name: string, type: 'agent' | 'human' = 'agent'): Promise<AgentCreated> {
    try {
      return await this.createAgent(workspaceKey, { name, type })
    } catch (err) {
      if (err instanceof EngineApiError && err.status === 409) return this.rotateAgentToken(workspaceKey, name)
      throw err
    }
  }

  sendDm(agentToken: string, body: { to: string; text: string; mode?: 'wait' | 'steer' }): Promise<DmSent> {
    return this.request('POST', '/v1/dm', { token: agentToken, body, schema: dmSentSchema })
  }
}
