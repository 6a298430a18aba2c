/**
 * OpenAI Responses API, as Codex (0.169.x) speaks it: `POST /v1/responses`, streamed SSE
 * (response.created, response.output_item.added, response.content_part.added,
 * response.output_text.delta/done, response.content_part.done, response.output_item.done,
 * response.completed); `GET /v1/models` answered with a small list.
 *
 * Request items: `{type:"message", role, content:[{type:"input_text", text}]}`,
 * `{type:"function_call", name, namespace?, call_id, arguments}`,
 * `{type:"function_call_output", call_id, output}`. MCP tools are offered inside a
 * namespace: `{type:"namespace", name:"mcp__agent-relay", tools:[{type:"function", name:"send_dm"}…]}`;
 * we list those as `mcp__agent-relay__send_dm` and call them as an output item
 * `{type:"function_call", name:"send_dm", namespace:"mcp__agent-relay", call_id, arguments}`.
 * A request with no tools (the title Codex asks for after a turn) is `aux`.
 */
import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { json, resolveToolName, sse, type ApiAdapter, type ModelReply, type ToolResult } from './index'

type Part = { type: string; text?: string }
type Item = {
  type?: string
  role?: string
  content?: string | Part[]
  name?: string
  namespace?: string
  call_id?: string
  arguments?: string
  output?: unknown
}
type Tool = { type?: string; name?: string; tools?: Tool[] }
interface ResponsesBody {
  model?: string
  input?: string | Item[]
  tools?: Tool[]
  stream?: boolean
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`

function textOf(item: Item): string {
  if (typeof item.content === 'string') return item.content
  if (!Array.isArray(item.content)) return ''
  return item.content
    .filter((p) => (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') && typeof p.text === 'string')
    .map((p) => p.text as string)
    .join('\n')
}

function outputText(output: unknown): string {
  if (typeof output === 'string') return output
  if (Array.isArray(output)) return output.map((p) => (typeof p === 'string' ? p : ((p as Part)?.text ?? ''))).join('\n')
  if (output && typeof output === 'object' && 'content' in output) return outputText((output as { content: unknown }).content)
  return JSON.stringify(output ?? '')
}

/** Offered tools: full name (namespaced ones as `<namespace>__<tool>`) → how to call it. */
function offeredTools(tools: Tool[] | undefined): Map<string, { name: string; namespace?: string }> {
  const out = new Map<string, { name: string; namespace?: string }>()
  for (const t of tools ?? []) {
    if (t?.type === 'namespace' && t.name) {
      for (const sub of t.tools ?? []) if (sub?.name) out.set(`${t.name}__${sub.name}`, { name: sub.name, namespace: t.name })
    } else if (t?.name) out.set(t.name, { name: t.name })
  }
  return out
}

type OutItem =
  | { type: 'message'; id: string; role: 'assistant'; status: string; content: { type: 'output_text'; text: string; annotations: [] }[] }
  | { type: 'function_call'; id: string; call_id: string; name: string; namespace?: string; arguments: string; status: string }

function streamResponse(res: ServerResponse, model: string, items: OutItem[], inputTokens: number): void {
  const out = sse(res)
  let seq = 0
  const ev = (type: string, data: Record<string, unknown>) => out.event(type, { type, sequence_number: seq++, ...data })
  const respId = id('resp')
  const created = Math.floor(Date.now() / 1000)
  const base = { id: respId, object: 'response', created_at: created, model }
  ev('response.created', { response: { ...base, status: 'in_progress', output: [] } })
  ev('response.in_progress', { response: { ...base, status: 'in_progress', output: [] } })
  items.forEach((item, output_index) => {
    if (item.type === 'message') {
      const text = item.content[0]?.text ?? ''
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } })
      ev('response.content_part.added', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } })
      for (const delta of text.match(/[\s\S]{1,24}/g) ?? []) ev('response.output_text.delta', { item_id: item.id, output_index, content_index: 0, delta })
      ev('response.output_text.done', { item_id: item.id, output_index, content_index: 0, text })
      ev('response.content_part.done', { item_id: item.id, output_index, content_index: 0, part: { type: 'output_text', text, annotations: [] } })
      ev('response.output_item.done', { output_index, item })
    } else {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } })
      ev('response.function_call_arguments.delta', { item_id: item.id, output_index, delta: item.arguments })
      ev('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments })
      ev('response.output_item.done', { output_index, item })
    }
  })
  const outputTokens = Math.max(1, Math.ceil(JSON.stringify(items).length / 4))
  ev('response.completed', {
    response: {
      ...base,
      status: 'completed',
      output: items,
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: inputTokens + outputTokens,
      },
    },
  })
  out.end()
}

function answer(res: ServerResponse, body: ResponsesBody, items: OutItem[], inputTokens: number): void {
  const model = body.model ?? 'gpt-5'
  if (body.stream !== false) return streamResponse(res, model, items, inputTokens)
  json(res, 200, { id: id('resp'), object: 'response', created_at: Math.floor(Date.now() / 1000), model, status: 'completed', output: items, usage: { input_tokens: inputTokens, output_tokens: 5, total_tokens: inputTokens + 5 } })
}

const message = (text: string): OutItem => ({ type: 'message', id: id('msg'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] })

export const adapter: ApiAdapter = {
  api: 'responses',
  matches: (method, url) => (method === 'POST' && (url.pathname === '/v1/responses' || url.pathname === '/responses')) || (method === 'GET' && (url.pathname === '/v1/models' || url.pathname === '/models')),
  async handle(ctx) {
    if (ctx.method === 'GET') {
      // Codex may list a provider's models; it needs nothing from it.
      json(ctx.res, 200, { object: 'list', data: [{ id: 'gpt-5', object: 'model', created: 0, owned_by: 'rig' }], models: [] })
      return
    }
    const body = (ctx.body ?? {}) as ResponsesBody
    const input: Item[] = typeof body.input === 'string' ? [{ type: 'message', role: 'user', content: body.input }] : Array.isArray(body.input) ? body.input : []
    const isMessage = (i: Item) => (i.type === 'message' || i.type === undefined) && typeof i.role === 'string'
    const userTurns = input.filter((i) => isMessage(i) && i.role === 'user').map(textOf)
    const userText = userTurns[userTurns.length - 1] ?? ''
    let lastAssistant = -1
    input.forEach((i, n) => {
      if ((isMessage(i) && i.role === 'assistant') || i.type === 'function_call') lastAssistant = n
    })
    // Tool results since the agent last spoke (a function_call counts as speaking; the
    // outputs follow their calls, so look back to the first call of that run).
    let runStart = lastAssistant
    while (runStart > 0 && (input[runStart - 1].type === 'function_call' || input[runStart - 1].type === 'reasoning')) runStart--
    const callNames = new Map<string, string>()
    for (const i of input) if (i.type === 'function_call' && i.call_id) callNames.set(i.call_id, i.namespace ? `${i.namespace}__${i.name}` : (i.name ?? ''))
    const toolResults: ToolResult[] = []
    for (const i of input.slice(Math.max(0, runStart))) {
      if (i.type === 'function_call_output' || i.type === 'custom_tool_call_output') toolResults.push({ callId: i.call_id, name: i.call_id ? callNames.get(i.call_id) : undefined, output: outputText(i.output) })
    }
    const offered = offeredTools(body.tools)
    const toolNames = [...offered.keys()]
    const tokens = Math.max(1, Math.ceil(JSON.stringify(ctx.body ?? '').length / 4))

    if (toolNames.length === 0) {
      ctx.record({ kind: 'aux', userText, userTurns, toolNames, toolResults })
      answer(ctx.res, body, [message('Relay session')], tokens)
      return
    }
    const req = ctx.record({ kind: 'turn', userText, userTurns, toolNames, toolResults })
    const reply: ModelReply = await ctx.decide(req)
    if (!('tool' in reply)) {
      answer(ctx.res, body, [message(reply.text)], tokens)
      return
    }
    const full = resolveToolName(reply.tool, toolNames)
    if (!full) throw new Error(`the responder asked for tool ${reply.tool}, not offered (offered: ${toolNames.join(', ')})`)
    const target = offered.get(full) as { name: string; namespace?: string }
    const items: OutItem[] = []
    if (reply.text) items.push(message(reply.text))
    items.push({ type: 'function_call', id: id('fc'), call_id: id('call'), name: target.name, ...(target.namespace ? { namespace: target.namespace } : {}), arguments: JSON.stringify(reply.args), status: 'completed' })
    answer(ctx.res, body, items, tokens)
  },
}
