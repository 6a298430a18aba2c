/**
 * Anthropic Messages API, as Claude Code (2.1.x) speaks it:
 *
 *   POST /v1/messages?beta=true            streamed SSE (message_start, content_block_*, message_delta, message_stop)
 *   POST /v1/messages/count_tokens?beta=true  {input_tokens}
 *
 * Claude's main requests always offer tools; its side requests (title / topic
 * generation, a `max_tokens: 1` quota probe, token counts) offer none and are `aux`,
 * answered here without the responder.
 *
 * MCP tools handed to Claude with `--mcp-config` are *deferred*: `tools` holds only
 * `ToolSearch` and the MCP tools are listed by name in the system / reminder text. A real
 * model first calls `ToolSearch {"query":"select:mcp__agent-relay__send_dm"}`, gets the
 * tool loaded (a `tool_reference` result) and then calls it. So when the responder asks
 * for a tool that is not offered but is listed and ToolSearch is offered, this adapter
 * answers the ToolSearch call itself, keeps the responder's call, and answers the
 * follow-up request (which carries the ToolSearch result; recorded as `aux`) with the
 * real tool call. Tests just say `{ tool: 'send_dm', args }`.
 */
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { json, resolveToolName, sse, valueForSchema, type ApiAdapter, type ModelReply, type ToolResult } from './index'

type Block = { type: string; text?: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: unknown; tool_name?: string }
type Message = { role: string; content: string | Block[] }
interface MessagesBody {
  model?: string
  system?: string | Block[]
  messages?: Message[]
  tools?: { name: string }[]
  max_tokens?: number
  stream?: boolean
  output_format?: { type?: string; schema?: unknown }
  output_config?: { format?: { type?: string; schema?: unknown } }
  safeguards?: unknown[]
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`

function blocks(m: Message): Block[] {
  return typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : Array.isArray(m.content) ? m.content : []
}

/** A message's own text (text blocks only; tool results and images left out). */
function textOf(m: Message): string {
  return blocks(m)
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n')
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content
  if (!Array.isArray(content)) return ''
  return (content as Block[])
    .map((b) => (b.type === 'text' ? (b.text ?? '') : b.type === 'tool_reference' ? `tool_reference:${b.tool_name ?? ''}` : ''))
    .filter(Boolean)
    .join('\n')
}

const MCP_NAME = /\bmcp__[A-Za-z0-9_-]+?__[A-Za-z0-9_-]+\b/g

/** Deferred tool names mentioned anywhere in the system text or the messages' text. */
function deferredNames(body: MessagesBody): string[] {
  const texts: string[] = []
  if (typeof body.system === 'string') texts.push(body.system)
  else if (Array.isArray(body.system)) for (const b of body.system) if (b.text) texts.push(b.text)
  for (const m of body.messages ?? []) texts.push(textOf(m))
  const out = new Set<string>()
  for (const t of texts) for (const n of t.match(MCP_NAME) ?? []) out.add(n)
  return [...out]
}

interface PendingCall {
  name: string
  args: Record<string, unknown>
  text?: string
}
/** ToolSearch tool_use id → the real call to make once the ToolSearch result comes back. */
const pendingAfterToolSearch = new Map<string, PendingCall>()

type OutBlock = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }

/**
 * Claude's default "auto" permission mode asks the API for a server-side verdict on each
 * tool call (`safeguards: [{type:"dangerous_tool_use", …}]` in the request). The verdict
 * comes back on `message_delta` as `delta.safeguard_results`; without it Claude shows
 * "Auto mode can't check actions in this session". We pass every call as not flagged.
 */
function safeguardResults(body: MessagesBody, content: OutBlock[]): unknown[] | undefined {
  const asked = Array.isArray(body.safeguards) && body.safeguards.some((s) => (s as { type?: string })?.type === 'dangerous_tool_use')
  const uses = content.filter((b): b is Extract<OutBlock, { type: 'tool_use' }> => b.type === 'tool_use')
  if (!asked || !uses.length) return undefined
  return [{ type: 'dangerous_tool_use', status: { type: 'available', tool_uses: Object.fromEntries(uses.map((u) => [u.id, { type: 'evaluated', outcome: 'not_flagged' }])) } }]
}

function streamMessage(res: ServerResponse, body: MessagesBody, model: string, content: OutBlock[], inputTokens: number): void {
  const out = sse(res)
  const stop = content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn'
  const outputTokens = Math.max(1, Math.ceil(JSON.stringify(content).length / 4))
  out.event('message_start', {
    type: 'message_start',
    message: {
      id: id('msg'),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    },
  })
  content.forEach((b, index) => {
    if (b.type === 'text') {
      out.event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
      // A few deltas, like a real stream.
      const parts = b.text.match(/[\s\S]{1,24}/g) ?? ['']
      for (const p of parts) out.event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } })
    } else {
      out.event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } })
      out.event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } })
    }
    out.event('content_block_stop', { type: 'content_block_stop', index })
  })
  const safeguards = safeguardResults(body, content)
  out.event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: stop, stop_sequence: null, ...(safeguards ? { safeguard_results: safeguards } : {}) },
    usage: { output_tokens: outputTokens },
  })
  out.event('message_stop', { type: 'message_stop' })
  out.end()
}

function answer(res: ServerResponse, body: MessagesBody, content: OutBlock[], inputTokens: number): void {
  const model = body.model ?? 'claude-sonnet-4-5'
  if (body.stream) return streamMessage(res, body, model, content, inputTokens)
  json(res, 200, {
    id: id('msg'),
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: inputTokens, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  })
}

export const adapter: ApiAdapter = {
  api: 'anthropic',
  matches: (method, url) => method === 'POST' && (url.pathname === '/v1/messages' || url.pathname === '/v1/messages/count_tokens'),
  async handle(ctx) {
    const body = (ctx.body ?? {}) as MessagesBody
    const messages = Array.isArray(body.messages) ? body.messages : []
    const tokens = Math.max(1, Math.ceil(JSON.stringify(ctx.body ?? '').length / 4))

    // The conversation, read the neutral way.
    // A user message that carries tool results is not a user turn (its text is Claude's own, e.g. "Tool loaded.").
    const isToolResultMsg = (m: Message) => blocks(m).some((b) => b.type === 'tool_result')
    const userMsgs = messages.filter((m) => m.role === 'user' && !isToolResultMsg(m) && textOf(m).length > 0)
    const userTurns = userMsgs.map(textOf)
    const userText = userTurns[userTurns.length - 1] ?? ''
    let lastAssistant = -1
    messages.forEach((m, i) => {
      if (m.role === 'assistant') lastAssistant = i
    })
    const toolUseNames = new Map<string, string>()
    if (lastAssistant >= 0) for (const b of blocks(messages[lastAssistant])) if (b.type === 'tool_use' && b.id && b.name) toolUseNames.set(b.id, b.name)
    const toolResults: ToolResult[] = []
    for (const m of messages.slice(lastAssistant + 1)) {
      if (m.role !== 'user') continue
      for (const b of blocks(m)) {
        if (b.type !== 'tool_result') continue
        toolResults.push({ callId: b.tool_use_id, name: b.tool_use_id ? toolUseNames.get(b.tool_use_id) : undefined, output: resultText(b.content) })
      }
    }
    const offered = (body.tools ?? []).map((t) => t?.name).filter((n): n is string => typeof n === 'string')
    const deferred = deferredNames(body).filter((n) => !offered.includes(n))
    const toolNames = [...offered, ...deferred]

    if (ctx.url.pathname === '/v1/messages/count_tokens') {
      ctx.record({ kind: 'aux', userText, userTurns, toolNames, toolResults })
      json(ctx.res, 200, { input_tokens: tokens })
      return
    }

    // The follow-up to a ToolSearch we made on the responder's behalf: make the real call.
    const pending = toolResults.map((r) => (r.callId ? pendingAfterToolSearch.get(r.callId) : undefined)).find(Boolean)
    if (pending) {
      for (const r of toolResults) if (r.callId) pendingAfterToolSearch.delete(r.callId)
      ctx.record({ kind: 'aux', userText, userTurns, toolNames, toolResults })
      const content: OutBlock[] = []
      if (pending.text) content.push({ type: 'text', text: pending.text })
      content.push({ type: 'tool_use', id: id('toolu'), name: pending.name, input: pending.args })
      answer(ctx.res, body, content, tokens)
      return
    }

    // Side requests: no tools offered (titles, topics, summaries) or a 1-token probe.
    const isAux = offered.length === 0 || (body.max_tokens !== undefined && body.max_tokens <= 1)
    if (isAux) {
      ctx.record({ kind: 'aux', userText, userTurns, toolNames, toolResults })
      const schema = body.output_format?.schema ?? body.output_config?.format?.schema
      const text = schema ? JSON.stringify(valueForSchema(schema, { text: () => 'Relay session' })) : 'Relay session'
      answer(ctx.res, body, [{ type: 'text', text }], tokens)
      return
    }

    const req = ctx.record({ kind: 'turn', userText, userTurns, toolNames, toolResults })
    const reply: ModelReply = await ctx.decide(req)
    if (!('tool' in reply)) {
      answer(ctx.res, body, [{ type: 'text', text: reply.text }], tokens)
      return
    }
    const content: OutBlock[] = []
    const direct = resolveToolName(reply.tool, offered)
    if (direct) {
      if (reply.text) content.push({ type: 'text', text: reply.text })
      content.push({ type: 'tool_use', id: id('toolu'), name: direct, input: reply.args })
    } else {
      const full = resolveToolName(reply.tool, deferred)
      const search = offered.find((n) => n === 'ToolSearch')
      if (!full || !search) throw new Error(`the responder asked for tool ${reply.tool}, not offered (offered: ${offered.join(', ')}; deferred: ${deferred.join(', ')})`)
      const searchId = id('toolu')
      pendingAfterToolSearch.set(searchId, { name: full, args: reply.args, text: reply.text })
      content.push({ type: 'tool_use', id: searchId, name: search, input: { query: `select:${full}`, max_results: 1 } })
    }
    answer(ctx.res, body, content, tokens)
  },
}
