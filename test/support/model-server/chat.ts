/**
 * OpenAI-compatible Chat Completions, for opencode (a provider with
 * `"npm": "@ai-sdk/openai-compatible"` and `options.baseURL = http://127.0.0.1:PORT/v1`):
 *
 *   POST /v1/chat/completions   SSE when `stream: true`: `chat.completion.chunk` deltas for
 *        text and `tool_calls`, a final chunk with `finish_reason`, a usage chunk
 *        (`choices: []`), then `data: [DONE]`; a `chat.completion` object otherwise.
 *   GET  /v1/models             a list with one model.
 *
 * opencode sends a title request (no tools, small_model) before each session's first turn;
 * requests that offer no tools are answered here as `aux`. MCP tools are offered as
 * `<server>_<tool>` (`agent-relay_send_dm`); results return as `role: "tool"` messages.
 */
import type { ServerResponse } from 'node:http'
import { json, resolveToolName, sse, type ApiAdapter, type ModelReply, type ToolResult } from './index'

interface ChatToolCall {
  id?: string
  type?: string
  function?: { name?: string; arguments?: string }
}
interface ChatMessage {
  role: string
  content?: string | { type?: string; text?: string }[] | null
  tool_calls?: ChatToolCall[]
  tool_call_id?: string
  name?: string
}
interface ChatBody {
  model?: string
  stream?: boolean
  messages?: ChatMessage[]
  tools?: { type?: string; function?: { name?: string }; name?: string }[]
}

const textOf = (m: ChatMessage): string =>
  typeof m.content === 'string'
    ? m.content
    : (m.content ?? [])
        .filter((p) => typeof p.text === 'string')
        .map((p) => p.text as string)
        .join('\n')

let ids = 0
const newId = (prefix: string) => `${prefix}_rig${Date.now().toString(36)}${(++ids).toString(36)}`

function pieces(text: string): string[] {
  if (text.length < 12) return [text]
  const cut = Math.ceil(text.length / 2)
  return [text.slice(0, cut), text.slice(cut)]
}

const USAGE = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }

function answer(res: ServerResponse, stream: boolean, model: string, text: string, call?: { name: string; args: Record<string, unknown> }): void {
  const id = newId('chatcmpl')
  const created = Math.floor(Date.now() / 1000)
  const callId = newId('call')
  const finish = call ? 'tool_calls' : 'stop'
  if (!stream) {
    return json(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text || null,
            ...(call ? { tool_calls: [{ id: callId, type: 'function', function: { name: call.name, arguments: JSON.stringify(call.args) } }] } : {}),
          },
          finish_reason: finish,
        },
      ],
      usage: USAGE,
    })
  }
  const out = sse(res)
  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
    out.event(undefined, { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })
  chunk({ role: 'assistant', content: '' })
  if (text) for (const t of pieces(text)) chunk({ content: t })
  if (call) {
    chunk({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: call.name, arguments: '' } }] })
    chunk({ tool_calls: [{ index: 0, function: { arguments: JSON.stringify(call.args) } }] })
  }
  chunk({}, finish)
  out.event(undefined, { id, object: 'chat.completion.chunk', created, model, choices: [], usage: USAGE })
  out.raw('data: [DONE]\n\n')
  out.end()
}

export const adapter: ApiAdapter = {
  api: 'chat',
  matches: (method, url) =>
    (method === 'POST' && /^(\/v1)?\/chat\/completions$/.test(url.pathname)) || (method === 'GET' && /^(\/v1)?\/models$/.test(url.pathname)),
  async handle(ctx) {
    if (ctx.method === 'GET') {
      return json(ctx.res, 200, { object: 'list', data: [{ id: 'rig-model', object: 'model', created: 0, owned_by: 'rig' }] })
    }
    const body = (ctx.body && typeof ctx.body === 'object' ? ctx.body : {}) as ChatBody
    const messages = body.messages ?? []
    const users = messages.filter((m) => m.role === 'user')
    const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant')
    const callNames = new Map<string, string>()
    for (const m of messages) for (const c of m.tool_calls ?? []) if (c.id && c.function?.name) callNames.set(c.id, c.function.name)
    const toolResults: ToolResult[] = messages
      .slice(lastAssistant + 1)
      .filter((m) => m.role === 'tool')
      .map((m) => ({ callId: m.tool_call_id, name: m.name ?? (m.tool_call_id ? callNames.get(m.tool_call_id) : undefined), output: textOf(m) }))
    const toolNames = (body.tools ?? []).map((t) => t.function?.name ?? t.name ?? '').filter(Boolean)
    // Only the agent's turns offer tools; a title / summary request offers none.
    const kind = toolNames.length ? 'turn' : 'aux'
    const req = ctx.record({
      kind,
      userText: users.length ? textOf(users[users.length - 1]) : '',
      userTurns: users.map(textOf),
      toolNames,
      toolResults,
    })
    const model = body.model ?? 'rig-model'
    const stream = body.stream === true
    if (kind === 'aux') return answer(ctx.res, stream, model, 'Relay conversation')
    const reply: ModelReply = await ctx.decide(req)
    if ('tool' in reply) {
      const name = resolveToolName(reply.tool, toolNames)
      if (!name) throw new Error(`tool ${reply.tool} is not offered (offered: ${toolNames.join(', ')})`)
      return answer(ctx.res, stream, model, reply.text ?? '', { name, args: reply.args })
    }
    answer(ctx.res, stream, model, reply.text)
  },
}
