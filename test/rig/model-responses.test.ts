/**
 * The OpenAI Responses adapter of the scripted model server (Codex), with plain fetch: the
 * SSE event sequence, text, a namespaced MCP tool call and its result, side requests.
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
async function post(body: unknown): Promise<Ev[]> {
  const res = await fetch(`${model.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  return (await res.text())
    .split('\n\n')
    .filter((b) => b.trim())
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1] ?? '', data: JSON.parse(/^data: (.*)$/m.exec(b)?.[1] ?? 'null') }))
}

const tools = [
  { type: 'function', name: 'exec_command', parameters: { type: 'object' } },
  { type: 'namespace', name: 'mcp__agent_relay', description: 'agent-relay', tools: [{ type: 'function', name: 'send_dm', parameters: { type: 'object' } }, { type: 'function', name: 'check_inbox', parameters: { type: 'object' } }] },
]
const msg = (role: string, text: string) => ({ type: 'message', role, content: [{ type: role === 'assistant' ? 'output_text' : 'input_text', text }] })

describe('responses adapter', () => {
  it('streams a text answer with the Responses event sequence', async () => {
    model.setResponder(() => ({ text: 'Hello from the rig' }))
    const events = await post({ model: 'gpt-5', stream: true, tools, input: [msg('developer', 'rules'), msg('user', '<environment_context>cwd</environment_context>'), msg('user', 'Relay message from alice [ws / msg_1]: hello')] })
    expect(events.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    expect(events.every((e) => e.data.type === e.event)).toBe(true)
    expect(events.at(-1)!.data.response).toMatchObject({ status: 'completed', output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello from the rig' }] }] })
    expect(events.at(-1)!.data.response.usage.total_tokens).toBeGreaterThan(0)
    const [req] = model.turns()
    expect(req.userText).toBe('Relay message from alice [ws / msg_1]: hello')
    expect(req.toolNames).toEqual(['exec_command', 'mcp__agent_relay__send_dm', 'mcp__agent_relay__check_inbox'])
  })

  it('calls a namespaced MCP tool and records its output on the next turn', async () => {
    model.setResponder((r) => (r.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'alice', text: 'hi' } }))
    const events = await post({ model: 'gpt-5', stream: true, tools, input: [msg('user', 'dm alice')] })
    const done = events.find((e) => e.event === 'response.output_item.done')!.data.item
    expect(done).toMatchObject({ type: 'function_call', name: 'send_dm', namespace: 'mcp__agent_relay' })
    expect(JSON.parse(done.arguments)).toEqual({ to: 'alice', text: 'hi' })
    expect(events.map((e) => e.event)).toContain('response.function_call_arguments.done')
    await post({ model: 'gpt-5', stream: true, tools, input: [msg('user', 'dm alice'), { type: 'function_call', name: 'send_dm', namespace: 'mcp__agent_relay', call_id: done.call_id, arguments: done.arguments }, { type: 'function_call_output', call_id: done.call_id, output: 'sent to alice' }] })
    const second = model.turns()[1]
    expect(second).toMatchObject({ kind: 'turn', userText: 'dm alice' })
    expect(second.toolResults).toEqual([{ callId: done.call_id, name: 'mcp__agent_relay__send_dm', output: 'sent to alice' }])
  })

  it('answers the title request (no tools) and /v1/models without the responder', async () => {
    model.setResponder(() => {
      throw new Error('the responder must not be asked')
    })
    const events = await post({ model: 'gpt-5', stream: true, input: [msg('user', 'Generate a title for: hello')] })
    expect(events.at(-1)!.event).toBe('response.completed')
    const models = await fetch(`${model.url}/v1/models`)
    expect(models.status).toBe(200)
    expect(model.requests.map((r) => r.kind)).toEqual(['aux'])
    expect(model.errors).toEqual([])
  })
})
