/** The host's fetch for the embedded engine: what EngineApi needs of fetch, over kept-alive sockets. */
import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { EngineApi, EngineApiError } from '../../electron/broker/engine-api'
import { loopbackFetch } from '../../electron/host/loopback-fetch'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

async function server(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler)
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  return `http://127.0.0.1:${port}`
}

describe('loopbackFetch', () => {
  it('sends method, headers and body; answers status, headers and text; reuses the socket', async () => {
    const seen: Array<{ method?: string; auth?: string; body: string; socket: unknown }> = []
    const base = await server((req, res) => {
      let body = ''
      req.on('data', (d) => (body += d))
      req.on('end', () => {
        seen.push({ method: req.method, auth: req.headers.authorization, body, socket: req.socket })
        res.writeHead(201, { 'content-type': 'application/json', 'x-thing': 'y' }).end(JSON.stringify({ ok: true, echo: body }))
      })
    })
    for (let i = 0; i < 2; i++) {
      const res = await loopbackFetch(`${base}/v1/dm?x=1`, { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"a":"é"}' })
      expect(res.status).toBe(201)
      expect(res.ok).toBe(true)
      expect(res.headers.get('X-Thing')).toBe('y')
      expect(JSON.parse(await res.text())).toEqual({ ok: true, echo: '{"a":"é"}' })
    }
    expect(seen.map((s) => [s.method, s.auth])).toEqual([
      ['POST', 'Bearer t'],
      ['POST', 'Bearer t'],
    ])
    expect(seen[0].socket).toBe(seen[1].socket)
  })

  it('fails like fetch, so EngineApi reports an unreachable engine with the cause', async () => {
    const base = await server(() => undefined)
    await new Promise((r) => servers.pop()!.close(r))
    const api = new EngineApi({ baseUrl: base, fetchImpl: loopbackFetch })
    const err = await api.sendDm('t', { to: 'a', text: 'x' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EngineApiError)
    expect((err as EngineApiError).code).toBe('engine_unreachable')
    expect((err as Error).message).toMatch(/ECONNREFUSED/)
  })

  it('gives up on an engine that does not answer, when the signal fires', async () => {
    const base = await server(() => undefined) // never answers
    const api = new EngineApi({ baseUrl: base, fetchImpl: loopbackFetch, timeoutMs: 100 })
    const err = await api.sendDm('t', { to: 'a', text: 'x' }).catch((e: unknown) => e)
    expect((err as EngineApiError).code).toBe('engine_unreachable')
  })
})
