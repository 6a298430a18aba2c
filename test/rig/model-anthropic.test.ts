/**
 * The Anthropic Messages adapter of the scripted model server, with plain fetch: the SSE
 * shape Claude Code parses, text and tool calls, the ToolSearch two-step for deferred MCP
 * tools, and side requests answered without the responder.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startModelServer, type ModelServer } from '../support/model-server'

let model: ModelServer
beforeEach(async () => {
  model = await startModelServer()
})
afterEach(async () => {
  await model.close()
})

type Ev = { event: string; data: Record<string, any> }
async function post(path: string, body: unknown): Promise<{ status: number; events: Ev[]; json?: any }> {
  const res = await fetch(`${model.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  if (!(res.headers.get('content-type') ?? '').includes('event-stream')) return { status: res.status, events: [], json: JSON.parse(text) }
  const events = text
    .split('\n\n')
    .filter((b) => b.trim())
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1] ?? ''
      const data = JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null')
      return { event, data }
    })
  return { status: res.status, events }
}

const tools = [{ name: 'ToolSearch', input_schema: { type: 'object' } }, { name: 'Bash', input_schema: { type: 'object' } }]
const system = [{ type: 'text', text: 'Deferred tools: mcp__agent-relay__send_dm, mcp__agent-relay__check_inbox' }]
const turn = (messages: unknown[], extra: Record<string, unknown> = {}) => ({ model: 'claude-x', max_tokens: 32000, stream: true, system, tools, messages, ...extra })

describe('anthropic adapter', () => {
  it('streams a text answer in the Messages SSE shape and records the user text', async () => {
    model.setResponder(() => ({ text: 'Hello from the rig' }))
    const paste = '<pasted_content id="1">line 1\nRelay message from alice [ws / msg_1]: hello</pasted_content>'
    const { status, events } = await post('/v1/messages?beta=true', turn([{ role: 'user', content: [{ type: 'text', text: '<system-reminder>x</system-reminder>' }, { type: 'text', text: paste }] }, { role: 'system', content: 'env' }]))
    expect(status).toBe(200)
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
    expect(events.every((e) => e.data.type === e.event)).toBe(true)
    expect(events[0].data.message).toMatchObject({ role: 'assistant', model: 'claude-x', content: [] })
    expect(events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta.text).join('')).toBe('Hello from the rig')
    expect(events[4].data.delta.stop_reason).toBe('end_turn')
    const [req] = model.turns()
    expect(req.userText).toContain('Relay message from alice [ws / msg_1]: hello')
    expect(req.toolNames).toEqual(expect.arrayContaining(['ToolSearch', 'mcp__agent-relay__send_dm']))
  })

  it('calls an offered tool directly, and reports the result on the next turn', async () => {
    model.setResponder((r) => (r.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'alice', text: 'hi' } }))
    const offered = [...tools, { name: 'mcp__agent-relay__send_dm', input_schema: { type: 'object' } }]
    const first = await post('/v1/messages', turn([{ role: 'user', content: 'dm alice' }], { tools: offered }))
    const start = first.events.find((e) => e.event === 'content_block_start')!.data.content_block
    expect(start).toMatchObject({ type: 'tool_use', name: 'mcp__agent-relay__send_dm' })
    const args = first.events.find((e) => e.event === 'content_block_delta')!.data.delta
    expect(args.type).toBe('input_json_delta')
    expect(JSON.parse(args.partial_json)).toEqual({ to: 'alice', text: 'hi' })
    expect(first.events.find((e) => e.event === 'message_delta')!.data.delta.stop_reason).toBe('tool_use')
    await post('/v1/messages', turn([{ role: 'user', content: 'dm alice' }, { role: 'assistant', content: [{ type: 'tool_use', id: start.id, name: start.name, input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: start.id, content: [{ type: 'text', text: 'sent to alice' }] }] }], { tools: offered }))
    const second = model.turns()[1]
    expect(second.kind).toBe('turn')
    expect(second.userText).toBe('dm alice')
    expect(second.toolResults).toEqual([{ callId: start.id, name: 'mcp__agent-relay__send_dm', output: 'sent to alice' }])
  })

  it('loads a deferred MCP tool with ToolSearch first, then calls it with the responder args', async () => {
    model.setResponder((r) => (r.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'bob', text: 'yo' } }))
    const user = { role: 'user', content: 'dm bob' }
    const a = await post('/v1/messages', turn([user]))
    const search = a.events.find((e) => e.event === 'content_block_start')!.data.content_block
    expect(search).toMatchObject({ type: 'tool_use', name: 'ToolSearch' })
    expect(JSON.parse(a.events.find((e) => e.event === 'content_block_delta')!.data.delta.partial_json)).toMatchObject({ query: 'select:mcp__agent-relay__send_dm' })
    const b = await post(
      '/v1/messages',
      turn([user, { role: 'assistant', content: [{ type: 'tool_use', id: search.id, name: 'ToolSearch', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: search.id, content: [{ type: 'tool_reference', tool_name: 'mcp__agent-relay__send_dm' }] }, { type: 'text', text: 'Tool loaded.' }] }]),
    )
    const call = b.events.find((e) => e.event === 'content_block_start')!.data.content_block
    expect(call).toMatchObject({ type: 'tool_use', name: 'mcp__agent-relay__send_dm' })
    expect(JSON.parse(b.events.find((e) => e.event === 'content_block_delta')!.data.delta.partial_json)).toEqual({ to: 'bob', text: 'yo' })
    // The responder was asked once; the ToolSearch follow-up is the adapter's own (aux).
    expect(model.turns()).toHaveLength(1)
    expect(model.requests.map((r) => r.kind)).toEqual(['turn', 'aux'])
    expect(model.requests[1].userText).toBe('dm bob')
  })

  it('passes auto mode tool calls as not flagged when Claude asks for the safeguard verdict', async () => {
    model.setResponder(() => ({ tool: 'Bash', args: { command: 'ls' } }))
    const { events } = await post('/v1/messages', turn([{ role: 'user', content: 'ls' }], { safeguards: [{ type: 'dangerous_tool_use', classifier_context: {} }] }))
    const id = events.find((e) => e.event === 'content_block_start')!.data.content_block.id
    expect(events.find((e) => e.event === 'message_delta')!.data.delta.safeguard_results).toEqual([{ type: 'dangerous_tool_use', status: { type: 'available', tool_uses: { [id]: { type: 'evaluated', outcome: 'not_flagged' } } } }])
  })

  it('answers side requests itself: titles, 1-token probes, token counts (non-streamed too)', async () => {
    model.setResponder(() => {
      throw new Error('the responder must not be asked')
    })
    const title = await post('/v1/messages', { model: 'haiku', max_tokens: 512, stream: true, system: 'Write a title', messages: [{ role: 'user', content: 'hello' }] })
    expect(title.events.at(-1)!.event).toBe('message_stop')
    const probe = await post('/v1/messages', { model: 'm', max_tokens: 1, tools, messages: [{ role: 'user', content: 'quota' }] })
    expect(probe.json).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'text' }] })
    const schema = await post('/v1/messages', { model: 'm', max_tokens: 100, messages: [{ role: 'user', content: 'x' }], output_format: { type: 'json_schema', schema: { type: 'object', properties: { title: { type: 'string' }, isNew: { type: 'boolean' } } } } })
    expect(JSON.parse(schema.json.content[0].text)).toEqual({ title: 'Relay session', isNew: false })
    const count = await post('/v1/messages/count_tokens?beta=true', { model: 'm', messages: [{ role: 'user', content: 'hello' }] })
    expect(count.json.input_tokens).toBeGreaterThan(0)
    expect(model.requests.map((r) => r.kind)).toEqual(['aux', 'aux', 'aux', 'aux'])
    expect(model.errors).toEqual([])
  })
})
