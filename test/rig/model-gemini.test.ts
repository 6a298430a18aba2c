/** The Gemini adapter of the scripted model server, with plain fetch. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { adapter } from '../support/model-server/gemini'
import { startModelServer, type ModelServer } from '../support/model-server/index'

let model: ModelServer
beforeEach(async () => {
  model = await startModelServer({ adapters: [adapter] })
})
afterEach(async () => {
  await model.close()
})

const tools = [{ functionDeclarations: [{ name: 'read_file' }, { name: 'mcp_agent-relay_send_dm' }, { name: 'mcp_agent-relay_check_inbox' }] }]

async function sseEvents(res: Response): Promise<any[]> {
  expect(res.headers.get('content-type')).toContain('text/event-stream')
  const text = await res.text()
  return text
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => JSON.parse(b.slice(6)))
}

const post = (op: string, body: unknown, query = '') =>
  fetch(`${model.url}/v1beta/models/gemini-2.5-flash:${op}${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('gemini adapter', () => {
  it('streams a text answer as candidates with a STOP and usage at the end', async () => {
    model.setResponder(() => ({ text: 'Hello from the rig model.' }))
    const res = await post('streamGenerateContent', { contents: [{ role: 'user', parts: [{ text: '<session_context>…</session_context>' }, { text: 'Relay message from alice: hi' }] }], tools }, '?alt=sse')
    const events = await sseEvents(res)
    const text = events.map((e) => e.candidates[0].content.parts.map((p: any) => p.text ?? '').join('')).join('')
    expect(text).toBe('Hello from the rig model.')
    const last = events[events.length - 1]
    expect(last.candidates[0].finishReason).toBe('STOP')
    expect(last.usageMetadata.totalTokenCount).toBeGreaterThan(0)
    const [req] = model.turns()
    expect(req.kind).toBe('turn')
    expect(req.userText).toContain('Relay message from alice: hi')
    expect(req.toolNames).toContain('mcp_agent-relay_send_dm')
  })

  it('answers a tool call by its short name and records the functionResponse that follows', async () => {
    model.setResponder((r) => (r.toolResults.length ? { text: 'sent' } : { tool: 'send_dm', args: { to: 'alice', text: 'hi' } }))
    const events = await sseEvents(await post('streamGenerateContent', { contents: [{ role: 'user', parts: [{ text: 'dm alice' }] }], tools }, '?alt=sse'))
    const call = events.flatMap((e) => e.candidates[0].content.parts).find((p: any) => p.functionCall)
    expect(call.functionCall).toEqual({ name: 'mcp_agent-relay_send_dm', args: { to: 'alice', text: 'hi' } })
    const second = await sseEvents(
      await post(
        'streamGenerateContent',
        {
          contents: [
            { role: 'user', parts: [{ text: 'dm alice' }] },
            { role: 'model', parts: [call] },
            { role: 'user', parts: [{ functionResponse: { name: 'mcp_agent-relay_send_dm', response: { output: 'sent to alice' } } }] },
          ],
          tools,
        },
        '?alt=sse',
      ),
    )
    expect(second.map((e) => e.candidates[0].content.parts[0].text ?? '').join('')).toBe('sent')
    const turns = model.turns()
    expect(turns).toHaveLength(2)
    expect(turns[1].kind).toBe('turn')
    expect(turns[1].userText).toBe('dm alice')
    expect(turns[1].toolResults).toEqual([{ name: 'mcp_agent-relay_send_dm', callId: undefined, output: 'sent to alice' }])
  })

  it('answers side requests itself (aux): countTokens, JSON-schema checks, plain generateContent', async () => {
    model.setResponder(() => {
      throw new Error('the responder must not see aux requests')
    })
    const count: any = await (await post('countTokens', { contents: [{ role: 'user', parts: [{ text: 'x' }] }] })).json()
    expect(count.totalTokens).toBeGreaterThan(0)
    const next: any = await (
      await post('generateContent', {
        contents: [{ role: 'user', parts: [{ text: 'who speaks next?' }] }],
        generationConfig: {
          responseMimeType: 'application/json',
          responseJsonSchema: { type: 'object', properties: { reasoning: { type: 'string' }, next_speaker: { type: 'string', enum: ['model', 'user'] } } },
        },
      })
    ).json()
    expect(JSON.parse(next.candidates[0].content.parts[0].text)).toMatchObject({ next_speaker: 'user' })
    const summary: any = await (await post('generateContent', { contents: [{ role: 'user', parts: [{ text: 'summarize' }] }] })).json()
    expect(typeof summary.candidates[0].content.parts[0].text).toBe('string')
    expect(model.requests.map((r) => r.kind)).toEqual(['aux', 'aux', 'aux'])
    expect(model.errors).toEqual([])
  })
})
