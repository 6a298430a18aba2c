/**
 * Gemini API (generativelanguage v1beta) for Gemini CLI, as it calls it with
 * `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT` (no `/v1beta`) and any GEMINI_API_KEY:
 *
 *   POST /v1beta/models/<m>:streamGenerateContent?alt=sse   the agent's turn (SSE), and the
 *        CLI's own JSON-schema side calls when they stream (answered as aux)
 *   POST /v1beta/models/<m>:generateContent                 side calls: next-speaker check,
 *        loop detection, model routing, session summary, … (aux)
 *   POST /v1beta/models/<m>:countTokens                     (aux)
 *
 * Request: `{contents:[{role:'user'|'model', parts:[{text}|{functionCall}|{functionResponse}]}],
 * tools:[{functionDeclarations:[{name,…}]}], systemInstruction, generationConfig}`. MCP
 * tools are offered as `mcp_<server>_<tool>` (`mcp_agent-relay_send_dm`). A call goes back as
 * a part `{functionCall:{name,args}}`; its result comes in the next request as a user-role
 * `{functionResponse:{name, response}}` part.
 */
import type { ServerResponse } from 'node:http'
import { json, resolveToolName, sse, valueForSchema, type ApiAdapter, type ModelReply, type ToolResult } from './index'

interface Part {
  text?: string
  thought?: boolean
  functionCall?: { id?: string; name: string; args?: unknown }
  functionResponse?: { id?: string; name?: string; response?: unknown }
}
interface Content {
  role?: string
  parts?: Part[]
}
interface GenerateBody {
  contents?: Content[] | Content
  tools?: { functionDeclarations?: { name: string }[] }[]
  generationConfig?: { responseMimeType?: string; responseJsonSchema?: unknown; responseSchema?: unknown }
  generateContentRequest?: GenerateBody
}

const PATH = /^\/v1(?:beta|alpha)?\/models\/([^/:]+):([A-Za-z]+)$/

function contentsOf(body: GenerateBody): Content[] {
  const c = body.contents ?? body.generateContentRequest?.contents
  if (!c) return []
  return Array.isArray(c) ? c : [c]
}

const textOf = (c: Content): string =>
  (c.parts ?? [])
    .filter((p) => typeof p.text === 'string' && !p.thought)
    .map((p) => p.text as string)
    .join('\n')

const isUserText = (c: Content): boolean => c.role !== 'model' && (c.parts ?? []).some((p) => typeof p.text === 'string' && !p.thought)

function resultText(r: unknown): string {
  if (r && typeof r === 'object') {
    const o = r as Record<string, unknown>
    for (const k of ['output', 'result', 'content']) {
      if (typeof o[k] === 'string') return o[k] as string
    }
  }
  return typeof r === 'string' ? r : JSON.stringify(r)
}

function usage(): Record<string, number> {
  return { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 }
}

function candidate(parts: Part[], finishReason?: string): Record<string, unknown> {
  return {
    candidates: [{ content: { role: 'model', parts }, index: 0, ...(finishReason ? { finishReason } : {}) }],
    ...(finishReason ? { usageMetadata: usage() } : {}),
    modelVersion: 'rig-gemini',
  }
}

/** Text split into a few pieces, so the CLI sees a real stream. */
function pieces(text: string): string[] {
  if (text.length < 12) return [text]
  const cut = Math.ceil(text.length / 2)
  return [text.slice(0, cut), text.slice(cut)]
}

function streamReply(res: ServerResponse, parts: Part[]): void {
  const out = sse(res)
  const text = parts.filter((p) => p.text !== undefined).map((p) => p.text).join('')
  const calls = parts.filter((p) => p.functionCall)
  const texts = text ? pieces(text) : []
  texts.forEach((t, i) => {
    const last = i === texts.length - 1 && !calls.length
    out.event(undefined, candidate([{ text: t }], last ? 'STOP' : undefined))
  })
  if (calls.length) out.event(undefined, candidate(calls, 'STOP'))
  if (!texts.length && !calls.length) out.event(undefined, candidate([{ text: '' }], 'STOP'))
  out.end()
}

function replyParts(reply: ModelReply, offered: string[]): Part[] {
  if ('tool' in reply) {
    const name = resolveToolName(reply.tool, offered)
    if (!name) throw new Error(`tool ${reply.tool} is not offered (offered: ${offered.join(', ')})`)
    return [...(reply.text ? [{ text: reply.text }] : []), { functionCall: { name, args: reply.args } }]
  }
  return [{ text: reply.text }]
}

export const adapter: ApiAdapter = {
  api: 'gemini',
  matches: (method, url) => method === 'POST' && PATH.test(url.pathname),
  async handle(ctx) {
    const [, , op] = PATH.exec(ctx.url.pathname) ?? []
    const body = (ctx.body && typeof ctx.body === 'object' ? ctx.body : {}) as GenerateBody
    const contents = contentsOf(body)
    const users = contents.filter(isUserText)
    const lastModel = contents.map((c) => c.role).lastIndexOf('model')
    const toolResults: ToolResult[] = contents
      .slice(lastModel + 1)
      .flatMap((c) => c.parts ?? [])
      .filter((p) => p.functionResponse)
      .map((p) => ({ name: p.functionResponse!.name, callId: p.functionResponse!.id, output: resultText(p.functionResponse!.response) }))
    const toolNames = (body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name))
    const structured = !!(body.generationConfig?.responseJsonSchema || body.generationConfig?.responseSchema || body.generationConfig?.responseMimeType === 'application/json')
    const kind = op === 'streamGenerateContent' && !structured ? 'turn' : 'aux'
    const req = ctx.record({
      kind,
      userText: users.length ? textOf(users[users.length - 1]) : '',
      userTurns: users.map(textOf),
      toolNames,
      toolResults,
    })

    if (op === 'countTokens') return json(ctx.res, 200, { totalTokens: 10 })
    if (op !== 'generateContent' && op !== 'streamGenerateContent') throw new Error(`unknown Gemini method :${op}`)

    let parts: Part[]
    if (kind === 'turn') {
      parts = replyParts(await ctx.decide(req), toolNames)
    } else if (structured) {
      parts = [{ text: JSON.stringify(
          valueForSchema(body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema, {
            // "the model should stop; the user speaks next", and the cheap model for routing
            byKey: { next_speaker: 'user', model_choice: 'flash' },
            text: (key) => (key === 'reasoning' ? 'The turn is complete.' : 'ok'),
          }),
        ) }]
    } else {
      parts = [{ text: 'A relay conversation.' }] // session summary, titles
    }
    if (op === 'streamGenerateContent') return streamReply(ctx.res, parts)
    json(ctx.res, 200, candidate(parts, 'STOP'))
  },
}
