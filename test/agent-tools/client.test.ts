/**
 * RelayClient in-process against a real engine, plus the relaycast routes this engine
 * may not serve yet (threads, presence, spawn), answered by a stand-in in front of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseRelayEnv, RelayClient } from '../../electron/agent-tools/client'
import { RelayToolError } from '../../electron/agent-tools/errors'
import { createMcpServer } from '../../electron/agent-tools/mcp'
import { channelMessages, dmsOf, world, type TestAgent, type World } from './helpers'

let w: World
let A: TestAgent
let B: TestAgent
beforeAll(async () => {
  w = await world()
  A = await w.agent('cl-alpha')
  B = await w.agent('cl-bravo')
})
afterAll(async () => w?.close())

type Route = (body: unknown) => { status: number; json: unknown }

/** fetch that answers some `METHOD /path` itself and passes the rest to the engine; records every call. */
function fetchWith(routes: Record<string, Route>) {
  const calls: string[] = []
  const impl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input))
    const key = `${init?.method ?? 'GET'} ${url.pathname}`
    calls.push(key)
    const route = routes[key]
    if (route) {
      const r = route(init?.body ? JSON.parse(String(init.body)) : undefined)
      return new Response(JSON.stringify(r.json), { status: r.status, headers: { 'content-type': 'application/json' } })
    }
    return fetch(input, init)
  }) as typeof fetch
  return { impl, calls }
}

const client = (a: TestAgent, fetchImpl?: typeof fetch) => new RelayClient({ baseUrl: w.engine.url, token: a.token, agentName: a.name, fetchImpl })

const errorOf = async (p: Promise<unknown>): Promise<RelayToolError> => {
  try {
    await p
  } catch (err) {
    if (err instanceof RelayToolError) return err
    throw err
  }
  throw new Error('expected a RelayToolError')
}

describe('RelayClient', () => {
  it('parses the environment at the edge: blanks are missing, URLs are checked', () => {
    expect(parseRelayEnv({ RELAY_BASE_URL: 'http://127.0.0.1:9/', RELAY_AGENT_TOKEN: '  ', RELAY_AGENT_NAME: 'x' })).toMatchObject({
      baseUrl: 'http://127.0.0.1:9',
      token: undefined,
      agentName: 'x',
      skipBootstrap: false,
    })
    expect(() => parseRelayEnv({ RELAY_BASE_URL: 'not a url' })).toThrow(/RELAY_BASE_URL is not a URL/)
    expect(() => parseRelayEnv({ RELAY_BASE_URL: 'ftp://x' })).toThrow(/http\(s\)/)
  })

  it('validates before sending: a usage error makes no request at all', async () => {
    const f = fetchWith({})
    const c = client(A, f.impl)
    for (const p of [c.sendDm('', 'x'), c.sendDm(B.name, '   '), c.sendDm('two words', 'x'), c.postMessage('bad channel!', 'x'), c.reply('', 'x'), c.spawn({ cli: 'claude', name: '' })]) {
      expect((await errorOf(p)).kind).toBe('usage')
    }
    expect(f.calls).toEqual([])
  })

  it('replies in a thread when the engine has POST /v1/messages/:id/replies', async () => {
    const sent = await client(A).sendDm(B.name, 'thread parent')
    let got: unknown
    const f = fetchWith({
      [`POST /v1/messages/${sent.id}/replies`]: (body) => {
        got = body
        return { status: 201, json: { ok: true, data: { id: 'msg_reply1', text: (body as { text: string }).text, thread_id: sent.id } } }
      },
    })
    const r = await client(B, f.impl).reply(sent.id, 'in thread')
    expect(r).toMatchObject({ id: 'msg_reply1', parent_id: sent.id, via: 'thread' })
    expect(got).toEqual({ text: 'in thread' })
  })

  const noThreadRoutes = (id: string) =>
    fetchWith({
      [`POST /v1/messages/${id}/replies`]: () => ({ status: 404, json: { ok: false, error: { code: 'not_found', message: `no route for POST /v1/messages/${id}/replies` } } }),
    })

  it('on an engine without thread routes, answers a DM in its conversation — also when replying to its own message', async () => {
    const sent = await client(A).sendDm(B.name, 'parent two')
    const f = noThreadRoutes(sent.id)
    const theirs = await client(B, f.impl).reply(sent.id, 'answer from B')
    expect(theirs).toMatchObject({ via: 'dm', to: A.name })
    const mine = await client(A, f.impl).reply(sent.id, 'follow-up from A')
    expect(mine).toMatchObject({ via: 'dm', to: B.name })
    expect((await dmsOf(w, B)).some((m) => m.id === mine.id && m.text === 'follow-up from A')).toBe(true)
    expect((await dmsOf(w, A)).some((m) => m.id === theirs.id && m.text === 'answer from B')).toBe(true)
  })

  it('on an engine without thread routes, a channel message gets a clear error naming the channel, and nothing is sent', async () => {
    const posted = await client(A).postMessage('general', 'channel parent')
    const before = await channelMessages(w, 'general')
    const err = await errorOf(client(B, noThreadRoutes(posted.id).impl).reply(posted.id, 'x'))
    expect(err.code).toBe('unsupported')
    expect(err.message).toMatch(/does not support thread replies yet/)
    expect(err.message).toMatch(/relay post #general/)
    expect(await channelMessages(w, 'general')).toEqual(before)
  })

  it('on this engine, a reply lands in the thread and shows in the inbox of the other side', async () => {
    const sent = await client(A).sendDm(B.name, 'parent three')
    const r = await client(B).reply(sent.id, 'reply three')
    // Our engine serves POST /v1/messages/:id/replies: the DM fallback must not be taken here.
    expect(r).toMatchObject({ via: 'thread', parent_id: sent.id })
    const stored = await client(A).readMessage(r.id)
    expect(stored.text).toBe('reply three')
    expect(stored.thread_id).toBe(sent.id)
    // replying to a reply answers the thread root
    const again = await client(A).reply(r.id, 'reply to the reply')
    expect(again).toMatchObject({ via: 'thread', parent_id: sent.id })
    expect((await client(B).readMessage(again.id)).thread_id).toBe(sent.id)
    const inbox = await client(A).inbox()
    expect(inbox.recent.some((m) => m.id === r.id)).toBe(true)
  })

  it('who merges presence when served ({agents:[…]} or […]), and says so when not', async () => {
    const absent = fetchWith({
      'GET /v1/agents/presence': () => ({ status: 404, json: { ok: false, error: { code: 'not_found', message: 'no route' } } }),
    })
    const plain = await client(A, absent.impl).who()
    expect(plain.presence).toBe('unsupported')
    expect(plain.agents.find((a) => a.name === A.name)).toMatchObject({ me: true, online: undefined })

    for (const data of [[{ agent_name: B.name, status: 'online' }], { agents: [{ name: B.name, status: 'online' }], nodes: [] }]) {
      const f = fetchWith({ 'GET /v1/agents/presence': () => ({ status: 200, json: { ok: true, data } }) })
      const withPresence = await client(A, f.impl).who()
      expect(withPresence.presence).toBe('available')
      expect(withPresence.agents.find((a) => a.name === B.name)?.online).toBe(true)
      expect(withPresence.agents.find((a) => a.name === A.name)?.online).toBe(false)
    }

    const real = await client(A).who()
    expect(real.agents.map((a) => a.name)).toEqual(expect.arrayContaining([A.name, B.name]))
  })

  it('spawn and release: the relaycast bodies; a missing route is "not supported yet"', async () => {
    const bodies: unknown[] = []
    const f = fetchWith({
      'POST /v1/agents/spawn': (body) => {
        bodies.push(body)
        return { status: 201, json: { ok: true, data: { invocation_id: 'inv_1', status: 'dispatched' } } }
      },
    })
    expect(await client(A, f.impl).spawn({ cli: 'claude', name: 'helper', task: 'review' })).toMatchObject({ invocation_id: 'inv_1' })
    expect(bodies).toEqual([{ name: 'helper', cli: 'claude', task: 'review' }])

    const unknownRoute = fetchWith({
      'POST /v1/agents/spawn': () => ({ status: 404, json: { ok: false, error: { code: 'not_found', message: 'no route for POST /v1/agents/spawn' } } }),
    })
    const err = await errorOf(client(A, unknownRoute.impl).spawn({ cli: 'claude', name: 'helper' }))
    expect(err.message).toMatch(/does not support spawning agents yet \(POST \/v1\/agents\/spawn answered 404\)/)
    expect(err.exitCode).toBe(1)

    const missing = await errorOf(client(A).release('no-such-agent'))
    expect(missing.message).toMatch(/no agent named "no-such-agent"/)
  })

  it('register: with a token it confirms; without one it needs the workspace key, and then registers', async () => {
    expect(await client(A).register(A.name)).toMatchObject({ name: A.name, registered: false })
    const noKey = new RelayClient({ baseUrl: w.engine.url, agentName: 'newbie' })
    expect((await errorOf(noKey.register(undefined))).message).toMatch(/no RELAY_AGENT_TOKEN and no workspace key/)
    const withKey = new RelayClient({ baseUrl: w.engine.url, agentName: 'newbie', workspaceKey: w.key })
    expect(await withKey.register(undefined)).toMatchObject({ name: 'newbie', registered: true })
    expect((await withKey.sendDm(A.name, 'hi from newbie')).to).toBe(A.name)
  })

  it('MCP bootstrap registers only without a token and without RELAY_SKIP_BOOTSTRAP', async () => {
    const env = { RELAY_BASE_URL: w.engine.url, RELAY_AGENT_NAME: 'booted', RELAY_WORKSPACE_KEY: w.key }
    const skipped = createMcpServer({ env: { ...env, RELAY_SKIP_BOOTSTRAP: '1' }, log: () => undefined })
    await skipped.ready
    const withToken = createMcpServer({ env: { ...env, RELAY_AGENT_TOKEN: A.token }, log: () => undefined })
    await withToken.ready
    const names = async () => (await client(A).who()).agents.map((a) => a.name)
    expect(await names()).not.toContain('booted')
    const booting = createMcpServer({ env, log: () => undefined })
    await booting.ready
    expect(await names()).toContain('booted')
  })
})
