/**
 * The agent-side Relay client: what an agent running in one of our PTYs can do, as
 * itself, with its own `at_live_` token. The `relay` command and the MCP server are
 * both thin skins over this module.
 *
 * The environment is parsed with zod here, at the edge; every engine answer is parsed
 * by EngineApi (envelope + a loose schema); every failure becomes a RelayToolError
 * whose message names what was tried and what to do (errors.ts).
 *
 * Routes that a given engine may not have yet (threads, presence, spawn) are called
 * anyway, following the relaycast shapes (engine.md §2.4–§2.5); a 404 from the
 * engine's catch-all becomes "the engine does not support … yet".
 */
import { z } from 'zod'
import { EngineApi, EngineApiError } from '../broker/engine-api'
import { dmSentSchema } from '../../shared/wire'
import { explainError, RelayToolError, usageError } from './errors'

// ── environment ────────────────────────────────────────────────────────────────

const optionalString = z.preprocess(
  (v) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined),
  z.string().optional(),
)

/** The variables Relay Desktop's broker puts into every agent it spawns (node-protocol.md §2.6). */
export const relayEnvSchema = z.object({
  RELAY_BASE_URL: optionalString,
  RELAY_AGENT_TOKEN: optionalString,
  RELAY_AGENT_NAME: optionalString,
  RELAY_WORKSPACE_ID: optionalString,
  RELAY_DEFAULT_WORKSPACE: optionalString,
  /** Only for a person running the MCP server by hand: lets register_agent mint a token. */
  RELAY_WORKSPACE_KEY: optionalString,
  RELAY_API_KEY: optionalString,
  RELAY_SKIP_BOOTSTRAP: optionalString,
  RELAY_AGENT_TYPE: optionalString,
})

export interface RelayEnv {
  baseUrl: string
  token?: string
  agentName?: string
  workspaceId?: string
  workspaceKey?: string
  skipBootstrap: boolean
  agentType: 'agent' | 'human' | 'system'
}

const SPAWNED_BY_RELAY =
  'Agents spawned by Relay Desktop have RELAY_BASE_URL, RELAY_AGENT_NAME and RELAY_AGENT_TOKEN in their environment: ' +
  "run this from such an agent's terminal, or export those variables."

export function parseRelayEnv(env: NodeJS.ProcessEnv = process.env): RelayEnv {
  const e = relayEnvSchema.parse(env)
  if (!e.RELAY_BASE_URL) {
    throw new RelayToolError('auth', 'config_missing', `RELAY_BASE_URL is not set, so there is no engine to talk to. ${SPAWNED_BY_RELAY}`)
  }
  let url: URL
  try {
    url = new URL(e.RELAY_BASE_URL)
  } catch {
    throw new RelayToolError('auth', 'config_invalid', `RELAY_BASE_URL is not a URL: "${e.RELAY_BASE_URL}" (expected e.g. http://127.0.0.1:8787)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RelayToolError('auth', 'config_invalid', `RELAY_BASE_URL must be an http(s) URL, got "${e.RELAY_BASE_URL}"`)
  }
  const type = e.RELAY_AGENT_TYPE
  return {
    baseUrl: e.RELAY_BASE_URL.replace(/\/+$/, ''),
    token: e.RELAY_AGENT_TOKEN,
    agentName: e.RELAY_AGENT_NAME,
    workspaceId: e.RELAY_WORKSPACE_ID ?? e.RELAY_DEFAULT_WORKSPACE,
    workspaceKey: e.RELAY_WORKSPACE_KEY ?? e.RELAY_API_KEY,
    skipBootstrap: e.RELAY_SKIP_BOOTSTRAP === '1' || e.RELAY_SKIP_BOOTSTRAP === 'true',
    agentType: type === 'human' || type === 'system' ? type : 'agent',
  }
}

// ── answer shapes (loose: we read what we need, tolerate the rest) ─────────────

const nullableString = z.string().nullable().optional()

export const messageSchema = z.looseObject({
  id: z.string(),
  text: z.string().default(''),
  agent_name: nullableString,
  from_name: nullableString,
  channel_id: nullableString,
  channel_name: nullableString,
  conversation_id: nullableString,
  thread_id: nullableString,
  reply_count: z.number().optional(),
  created_at: nullableString,
})
export type RelayMessage = z.infer<typeof messageSchema>

const inboxSchema = z.looseObject({
  unread_channels: z.array(z.looseObject({ channel_name: z.string(), unread_count: z.number().default(0) })).default([]),
  unread_dms: z
    .array(
      z.looseObject({
        conversation_id: nullableString,
        from: nullableString,
        unread_count: z.number().default(0),
        last_message: messageSchema.nullable().optional(),
      }),
    )
    .default([]),
  mentions: z.array(z.unknown()).default([]),
})

const agentSchema = z.looseObject({
  name: z.string(),
  type: nullableString,
  status: nullableString,
  node: nullableString,
})

const conversationSchema = z.looseObject({
  id: z.string().optional(),
  conversation_id: z.string().optional(),
  participants: z.array(z.looseObject({ agent_name: z.string().optional(), name: z.string().optional() })).default([]),
})

const presenceEntrySchema = z.looseObject({
  agent_name: z.string().optional(),
  name: z.string().optional(),
  status: nullableString,
  online: z.boolean().optional(),
  last_seen: nullableString,
  last_seen_at: nullableString,
})
/** relaycast answers an array; tolerate `{agents:[…]}` too. */
const presenceSchema = z.union([
  z.array(presenceEntrySchema),
  z.looseObject({ agents: z.array(presenceEntrySchema) }).transform((o) => o.agents),
])

const repliesSchema = z.looseObject({ replies: z.array(messageSchema).default([]) })

const anyObject = z.looseObject({})

// ── results ────────────────────────────────────────────────────────────────────

export interface SentResult {
  id: string
  to: string
  conversation_id?: string
  text: string
}
export interface PostedResult {
  id: string
  channel: string
  text: string
}
export interface ReplyResult {
  id: string
  parent_id: string
  /** `thread` when the engine has thread replies; `dm` when it fell back to answering a DM in its conversation. */
  via: 'thread' | 'dm'
  to?: string
  channel?: string
  text: string
}
export interface InboxResult {
  unread_channels: Array<{ channel_name: string; unread_count: number }>
  unread_dms: Array<{ conversation_id?: string; from?: string; unread_count: number; last_message?: RelayMessage }>
  mentions: unknown[]
  /** The latest direct messages others sent me, newest first (typed into my terminal or not). */
  recent: RelayMessage[]
}
export interface WhoEntry {
  name: string
  type?: string
  status?: string
  node?: string | null
  /** From GET /v1/agents/presence when the engine has it. */
  online?: boolean
  me: boolean
}
export interface WhoResult {
  agents: WhoEntry[]
  presence: 'available' | 'unsupported'
}

// ── validation before anything is sent ─────────────────────────────────────────

export function checkAgentName(raw: string, what = 'agent name'): string {
  const name = raw.trim().replace(/^@/, '')
  if (!name) throw usageError(`missing ${what}`)
  if (name.startsWith('#')) throw usageError(`${what} "${raw}" looks like a channel; use \`relay post ${raw} …\` for channels`)
  if (/\s/.test(name)) throw usageError(`${what} "${raw}" contains whitespace; agent names are single words`)
  if (name.length > 128) throw usageError(`${what} is longer than 128 characters`)
  return name
}

export function checkChannel(raw: string): string {
  const name = raw.trim().replace(/^#/, '')
  if (!name) throw usageError('missing channel name (e.g. #general)')
  if (!/^[A-Za-z0-9._-]{1,80}$/.test(name)) throw usageError(`"${raw}" is not a channel name (letters, digits, . _ - only)`)
  return name
}

export function checkText(text: string): string {
  if (text.trim() === '') throw usageError('the message text is empty')
  return text
}

export function checkMessageId(raw: string): string {
  const id = raw.trim()
  if (!id) throw usageError('missing message id (e.g. msg_…)')
  if (/[\s/?#]/.test(id)) throw usageError(`"${raw}" is not a message id`)
  return id
}

// ── the client ─────────────────────────────────────────────────────────────────

export interface RelayClientOptions {
  baseUrl: string
  token?: string
  agentName?: string
  workspaceId?: string
  /** Only used by register() when there is no token. Never sent anywhere else. */
  workspaceKey?: string
  fetchImpl?: typeof fetch
  timeoutMs?: number
}

interface CallOptions<T extends z.ZodTypeAny> {
  schema: T
  body?: unknown
  subject?: string
  operation?: string
}

export class RelayClient {
  readonly api: EngineApi
  readonly baseUrl: string
  private token: string | undefined
  private agentName: string | undefined
  private readonly workspaceKey: string | undefined

  constructor(opts: RelayClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '')
    this.api = new EngineApi({ baseUrl: this.baseUrl, fetchImpl: opts.fetchImpl, timeoutMs: opts.timeoutMs ?? 10_000 })
    this.token = opts.token
    this.agentName = opts.agentName
    this.workspaceKey = opts.workspaceKey
  }

  static fromEnv(env: NodeJS.ProcessEnv = process.env, extra: Partial<RelayClientOptions> = {}): RelayClient {
    const e = parseRelayEnv(env)
    return new RelayClient({ baseUrl: e.baseUrl, token: e.token, agentName: e.agentName, workspaceId: e.workspaceId, workspaceKey: e.workspaceKey, ...extra })
  }

  get hasToken(): boolean {
    return this.token !== undefined
  }

  get name(): string | undefined {
    return this.agentName
  }

  private requireToken(): string {
    if (!this.token) {
      throw new RelayToolError(
        'auth',
        'token_missing',
        `RELAY_AGENT_TOKEN is not set, so this command cannot act as an agent. ${SPAWNED_BY_RELAY}`,
      )
    }
    return this.token
  }

  private async call<T extends z.ZodTypeAny>(method: string, path: string, opts: CallOptions<T>): Promise<z.output<T>> {
    const token = this.requireToken()
    try {
      return await this.api.request(method, path, { token, body: opts.body, schema: opts.schema })
    } catch (err) {
      throw explainError(err, { baseUrl: this.baseUrl, method, path, subject: opts.subject, operation: opts.operation })
    }
  }

  /** Who am I (GET /v1/agent); also the cheapest check that the token works. */
  async whoami(): Promise<z.infer<typeof agentSchema>> {
    const me = await this.call('GET', '/v1/agent', { schema: agentSchema })
    this.agentName ??= me.name
    return me
  }

  private async myName(): Promise<string> {
    return this.agentName ?? (await this.whoami()).name
  }

  async sendDm(to: string, text: string): Promise<SentResult> {
    const name = checkAgentName(to, 'recipient')
    checkText(text)
    const sent = await this.call('POST', '/v1/dm', { body: { to: name, text }, schema: dmSentSchema, subject: `agent named "${name}"` })
    return { id: sent.message.id, to: name, conversation_id: sent.conversation_id, text: sent.message.text }
  }

  async postMessage(channel: string, text: string): Promise<PostedResult> {
    const ch = checkChannel(channel)
    checkText(text)
    const m = await this.call('POST', `/v1/channels/${encodeURIComponent(ch)}/messages`, {
      body: { text },
      schema: messageSchema,
      subject: `channel #${ch}`,
    })
    return { id: m.id, channel: ch, text: m.text }
  }

  async readMessage(id: string): Promise<RelayMessage> {
    const mid = checkMessageId(id)
    return this.call('GET', `/v1/messages/${encodeURIComponent(mid)}`, { schema: messageSchema, subject: `message ${mid}` })
  }

  /**
   * Reply in the thread of a message (POST /v1/messages/:id/replies). The parent is
   * read first, so an unknown id fails before anything is sent. An engine without
   * thread routes still lets an agent answer a DM: the reply goes to the other side
   * of that conversation as a DM (`via: 'dm'`).
   */
  async reply(id: string, text: string): Promise<ReplyResult> {
    checkText(text)
    let parent = await this.readMessage(id)
    // Threads are one level deep: answering a reply answers its thread.
    if (parent.thread_id) parent = await this.readMessage(parent.thread_id)
    const path = `/v1/messages/${encodeURIComponent(parent.id)}/replies`
    try {
      const m = await this.call('POST', path, {
        body: { text },
        schema: messageSchema,
        subject: `message ${parent.id}`,
        operation: 'thread replies',
      })
      return { id: m.id, parent_id: parent.id, via: 'thread', channel: parent.channel_name ?? undefined, text: m.text }
    } catch (err) {
      if (!(err instanceof RelayToolError && err.code === 'unsupported')) throw err
      if (!parent.conversation_id) {
        const where = parent.channel_name ? ` Post to #${parent.channel_name} instead: relay post #${parent.channel_name} <text>.` : ''
        throw new RelayToolError('remote', 'unsupported', `${err.message}.${where}`, err.status)
      }
      const to = await this.otherParticipant(parent)
      const sent = await this.sendDm(to, text)
      return { id: sent.id, parent_id: parent.id, via: 'dm', to, text: sent.text }
    }
  }

  private async otherParticipant(m: RelayMessage): Promise<string> {
    const me = await this.myName()
    const sender = m.agent_name ?? m.from_name ?? undefined
    if (sender && sender !== me) return sender
    const convs = await this.call('GET', '/v1/dm/conversations', { schema: z.array(conversationSchema) })
    const conv = convs.find((c) => (c.id ?? c.conversation_id) === m.conversation_id)
    const other = conv?.participants.map((p) => p.agent_name ?? p.name).find((n) => n && n !== me)
    if (!other) throw new RelayToolError('remote', 'conversation_not_found', `cannot tell who is on the other side of conversation ${m.conversation_id}`)
    return other
  }

  /** Unread counts (GET /v1/inbox) plus the latest DMs others sent me. */
  async inbox(opts: { recent?: number } = {}): Promise<InboxResult> {
    const want = opts.recent ?? 10
    const inbox = await this.call('GET', '/v1/inbox', { schema: inboxSchema })
    let recent: RelayMessage[] = []
    if (want > 0) {
      const me = await this.myName()
      const convs = await this.call('GET', '/v1/dm/conversations', { schema: z.array(conversationSchema) })
      const pages = await Promise.all(
        convs.slice(0, 20).map((c) => {
          const id = c.id ?? c.conversation_id
          return id
            ? this.call('GET', `/v1/dm/${encodeURIComponent(id)}/messages?limit=${want}`, { schema: z.array(messageSchema) })
            : Promise.resolve([])
        }),
      )
      // Thread replies live under their root (GET /v1/messages/:id/replies), not in the conversation page.
      const threads = await Promise.all(
        pages
          .flat()
          .filter((m) => (m.reply_count ?? 0) > 0)
          .slice(-want)
          .map((m) =>
            this.call('GET', `/v1/messages/${encodeURIComponent(m.id)}/replies?limit=${want}`, { schema: repliesSchema })
              .then((r) => r.replies)
              .catch(() => [] as RelayMessage[]),
          ),
      )
      recent = [...pages.flat(), ...threads.flat()]
        .filter((m) => (m.agent_name ?? m.from_name) !== me)
        .sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? '') || b.id.localeCompare(a.id))
        .slice(0, want)
    }
    return {
      unread_channels: inbox.unread_channels,
      unread_dms: inbox.unread_dms.map((d) => ({
        conversation_id: d.conversation_id ?? undefined,
        from: d.from ?? undefined,
        unread_count: d.unread_count,
        last_message: d.last_message ?? undefined,
      })),
      mentions: inbox.mentions,
      recent,
    }
  }

  /** Agents of the workspace, merged with presence when the engine serves it. */
  async who(): Promise<WhoResult> {
    const me = this.agentName
    const agents = await this.call('GET', '/v1/agents', { schema: z.array(agentSchema) })
    let presence: z.infer<typeof presenceSchema> | undefined
    try {
      presence = await this.call('GET', '/v1/agents/presence', { schema: presenceSchema, operation: 'presence' })
    } catch (err) {
      if (!(err instanceof RelayToolError && err.status === 404)) throw err
    }
    const online = new Map<string, boolean>()
    for (const p of presence ?? []) {
      const name = p.agent_name ?? p.name
      if (name) online.set(name, p.online ?? p.status === 'online')
    }
    return {
      presence: presence ? 'available' : 'unsupported',
      agents: agents.map((a) => ({
        name: a.name,
        type: a.type ?? undefined,
        status: a.status ?? undefined,
        node: a.node ?? null,
        online: presence ? (online.get(a.name) ?? false) : undefined,
        me: a.name === me,
      })),
    }
  }

  /** Ask the workspace to start an agent (POST /v1/agents/spawn, relaycast sugar for the spawn action). */
  async spawn(opts: { cli: string; name: string; task?: string; channel?: string }): Promise<Record<string, unknown>> {
    const cli = opts.cli.trim()
    if (!cli || /\s/.test(cli)) throw usageError(`"${opts.cli}" is not a CLI name (e.g. claude, codex, bash)`)
    const name = checkAgentName(opts.name, 'new agent name')
    const body: Record<string, unknown> = { name, cli }
    if (opts.task !== undefined) body.task = opts.task
    if (opts.channel !== undefined) body.channel = checkChannel(opts.channel)
    return this.call('POST', '/v1/agents/spawn', { body, schema: anyObject, operation: 'spawning agents', subject: `agent named "${name}"` })
  }

  /** Stop an agent (POST /v1/agents/release). */
  async release(nameRaw: string, reason?: string): Promise<Record<string, unknown>> {
    const name = checkAgentName(nameRaw)
    const body: Record<string, unknown> = { name }
    if (reason !== undefined) body.reason = reason
    return this.call('POST', '/v1/agents/release', { body, schema: anyObject, operation: 'releasing agents', subject: `agent named "${name}"` })
  }

  /**
   * register_agent. With a token (every agent Relay Desktop spawns) this registers
   * nothing: it confirms the identity the token stands for. Without one it needs a
   * workspace key (a person running the MCP server by hand) and mints a token.
   */
  async register(nameRaw: string | undefined, type: 'agent' | 'human' | 'system' = 'agent'): Promise<{ name: string; registered: boolean; message: string }> {
    const wanted = nameRaw === undefined || nameRaw.trim() === '' ? undefined : checkAgentName(nameRaw)
    if (this.token) {
      const me = await this.whoami()
      if (wanted && wanted !== me.name) {
        throw new RelayToolError(
          'usage',
          'name_mismatch',
          `this session is already registered as "${me.name}" (RELAY_AGENT_TOKEN); it cannot register as "${wanted}". Keep using "${me.name}".`,
        )
      }
      return { name: me.name, registered: false, message: `already registered as "${me.name}"; nothing to do` }
    }
    const name = wanted ?? this.agentName
    if (!name) throw usageError('register_agent needs a name (or RELAY_AGENT_NAME in the environment)')
    if (!this.workspaceKey) {
      throw new RelayToolError(
        'auth',
        'token_missing',
        `cannot register "${name}": there is no RELAY_AGENT_TOKEN and no workspace key (RELAY_WORKSPACE_KEY). ${SPAWNED_BY_RELAY}`,
      )
    }
    try {
      const created = await this.api.ensureAgent(this.workspaceKey, name, type === 'system' ? 'agent' : type)
      this.token = created.token
      this.agentName = created.name
      return { name: created.name, registered: true, message: `registered as "${created.name}"` }
    } catch (err) {
      if (err instanceof EngineApiError && err.status === 401) {
        throw new RelayToolError('auth', err.code, `the engine at ${this.baseUrl} rejected the workspace key (${err.code})`, 401)
      }
      throw explainError(err, { baseUrl: this.baseUrl, method: 'POST', path: '/v1/agents', subject: `agent named "${name}"` })
    }
  }
}
