/** The OpenAI-compatible chat adapter of the scripted model server (opencode), with plain fetch. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { adapter } from '../support/model-server/chat'
import { startModelServer, type ModelServer } from '../support/model-server/index'

let model: ModelServer
beforeEach(async () => {
  model = await startModelServer({ adapters: [adapter] })
})
afterEach(async () => {
  await model.close()
})

const tools = [
  { type: 'function', function: { name: 'bash', parameters: {} } },
  { type: 'function', function: { name: 'agent-relay_send_dm', parameters: {} } },
]

async function chunks(res: Response): Promise<{ data: any[]; done: boolean }> {
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const blocks = (await res.text()).split('\n\n').filter((b) => b.startsWith('data: '))
  const done = blocks[blocks.length - 1] === 'data: [DONE]'
  return { data: blocks.filter((b) => b !== 'data: [DONE]').map((b) => JSON.parse(b.slice(6))), done }
}

const post = (body: unknown) =>
  fetch(`${model.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer k' }, body: JSON.stringify(body) })

describe('chat adapter', () => {
  it('streams text deltas, a finish chunk, a usage chunk, then [DONE]', async () => {
    model.setResponder(() => ({ text: 'Hello from the rig model.' }))
    const { data, done } = await chunks(
      await post({ model: 'rig-model', stream: true, messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: [{ type: 'text', text: 'Relay message from alice: hi' }] }], tools }),
    )
    expect(done).toBe(true)
    expect(data.every((c) => c.object === 'chat.completion.chunk')).toBe(true)
    const withChoice = data.filter((c) => c.choices.length)
    expect(withChoice.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Hello from the rig model.')
    expect(withChoice[withChoice.length - 1].choices[0].finish_reason).toBe('stop')
    expect(data[data.length - 1].usage.total_tokens).toBeGreaterThan(0)
    const [req] = model.turns()
    expect(req.userText).toBe('Relay message from alice: hi')
    expect(req.toolNames).toEqual(['bash', 'agent-relay_send_dm'])
  })

  it('streams a tool call by its offered name and records the tool result that follows', async () => {
    model.setResponder((r) => (r.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'alice', text: 'hi' } }))
    const { data } = await chunks(await post({ model: 'rig-model', stream: true, messages: [{ role: 'user', content: 'dm alice' }], tools }))
    const calls = data.flatMap((c) => c.choices.flatMap((ch: any) => ch.delta.tool_calls ?? []))
    const id = calls[0].id
    expect(calls[0].function.name).toBe('agent-relay_send_dm')
    expect(JSON.parse(calls.map((c: any) => c.function.arguments ?? '').join(''))).toEqual({ to: 'alice', text: 'hi' })
    expect(data.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).toBe('tool_calls')
    await chunks(
      await post({
        model: 'rig-model',
        stream: true,
        tools,
        messages: [
          { role: 'user', content: 'dm alice' },
          { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'agent-relay_send_dm', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: id, content: 'sent to alice' },
        ],
      }),
    )
    const turns = model.turns()
    expect(turns).toHaveLength(2)
    expect(turns[1].userText).toBe('dm alice')
    expect(turns[1].toolResults).toEqual([{ callId: id, name: 'agent-relay_send_dm', output: 'sent to alice' }])
  })

  it('answers a title request (no tools) itself, streamed or not, and lists models', async () => {
    model.setResponder(() => {
      throw new Error('the responder must not see aux requests')
    })
    const { data, done } = await chunks(await post({ model: 'rig-model', stream: true, messages: [{ role: 'system', content: 'You are a title generator' }, { role: 'user', content: 'hi' }] }))
    expect(done).toBe(true)
    expect(data.flatMap((c) => c.choices.map((ch: any) => ch.delta.content ?? '')).join('')).not.toBe('')
    const plain: any = await (await post({ model: 'rig-model', messages: [{ role: 'user', content: 'hi' }] })).json()
    expect(plain.object).toBe('chat.completion')
    expect(plain.choices[0].message.content).toBeTruthy()
    const models: any = await (await fetch(`${model.url}/v1/models`)).json()
    expect(models.data[0].id).toBe('rig-model')
    expect(model.requests.map((r) => r.kind)).toEqual(['aux', 'aux'])
    expect(model.errors).toEqual([])
  })
})
