/** The headless transport: static UI, the token-protected contract socket, and its refusals. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'node:http'
import WebSocket from 'ws'
import { afterEach, describe, expect, it } from 'vitest'
import type { Host } from '../../electron/host'
import { HostConnection, OutputFlow, startHeadless, type HeadlessServer } from '../../electron/host'
import { tempDir, waitFor } from '../support/wait'
import { rawRequest } from '../support/raw-http'

const servers: HeadlessServer[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close()
})

/** A host that records invocations: the transport is under test here, not the host. */
function recordingHost() {
  const calls: Array<{ command: string; request: unknown }> = []
  let emit: (event: never, payload: unknown) => void = () => undefined
  const host: Host = {
    start: async () => undefined,
    stop: async () => undefined,
    invoke: async (command, req) => {
      calls.push({ command, request: req })
      return command === 'node.reconnect' ? { ok: true, result: { ok: true } } : { ok: false, error: { code: 'unknown_command', message: `unknown command: ${command}` } }
    },
    onEvent: (l) => {
      emit = l as never
      return () => undefined
    },
    status: () => ({ state: 'connected', nodeName: 'n', nodeId: 'node_x', engineUrl: 'http://x', embeddedEngine: true, agentsOnline: 0 }),
    agents: () => [],
    settings: () => {
      throw new Error('not used')
    },
    broadcast: () => undefined,
    connect: (send) =>
      new HostConnection({
        invoke: host.invoke,
        scrollback: (name) => `scrollback of ${name}\r\n`,
        flow: new OutputFlow({ pause: () => undefined, resume: () => undefined, paused: () => false }),
        send,
      }),
  }
  return { host, calls, emit: (event: string, payload: unknown) => emit(event as never, payload) }
}

async function serve() {
  const dir = tempDir('static')
  mkdirSync(join(dir, 'assets'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>ui</title>')
  writeFileSync(join(dir, 'assets', 'a.js'), 'console.log(1)')
  const rec = recordingHost()
  const server = await startHeadless({ host: rec.host, staticDir: dir, token: 'secret-token-123' })
  servers.push(server)
  return { server, ...rec }
}


function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('headless server', () => {
  it('serves the UI with a CSP, and refuses paths outside it', async () => {
    const { server } = await serve()
    const index = await get(server.port, '/')
    expect(index.status).toBe(200)
    expect(index.body).toContain('<title>ui</title>')
    expect(String(index.headers['content-security-policy'])).toContain("default-src 'self'")
    expect((await get(server.port, '/assets/a.js')).status).toBe(200)
    expect((await get(server.port, '/../../etc/passwd')).status).toBe(404)
    expect((await get(server.port, '/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404)
  })

  it('answers 400 to malformed request URLs and keeps serving (no crash)', async () => {
    const { server } = await serve()
    for (const path of ['//[', '/%E0%A4%A', '/%zz']) {
      const answer = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
      expect(answer, path).toMatch(/^HTTP\/1\.1 400 /)
    }
    const upgrade = await rawRequest(
      server.port,
      'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    expect(upgrade).toMatch(/^HTTP\/1\.1 401/)
    expect((await get(server.port, '/')).status).toBe(200)
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const { server } = await serve()
    expect((await get(server.port, '/', 'evil.example:80')).status).toBe(403)
  })

  it('refuses the contract socket without the right token', async () => {
    const { server } = await serve()
    for (const q of ['', '?token=wrong', '?token=secret-token-12']) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ipc${q}`)
      const status = await new Promise<number>((r) => {
        ws.on('unexpected-response', (_req, res) => r(res.statusCode ?? 0))
        ws.on('open', () => r(101))
        ws.on('error', () => undefined)
      })
      expect(status).toBe(401)
    }
  })

  it('carries commands and events over the socket, and survives garbage frames', async () => {
    const { server, calls, emit } = await serve()
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ipc?token=secret-token-123`)
    const frames: Array<Record<string, unknown>> = []
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())))
    await new Promise((r) => ws.once('open', r))
    ws.send('not json')
    ws.send(JSON.stringify({ nope: true }))
    ws.send(JSON.stringify({ id: 7, command: 'node.reconnect', request: {} }))
    await waitFor(() => frames.find((f) => f.kind === 'result'), 'result frame')
    expect(frames.find((f) => f.kind === 'result')).toEqual({ kind: 'result', id: 7, outcome: { ok: true, result: { ok: true } } })
    expect(calls).toEqual([{ command: 'node.reconnect', request: {} }])
    emit('agent.removed', { name: 'a' })
    await waitFor(() => frames.find((f) => f.kind === 'event'), 'event frame')
    expect(frames.find((f) => f.kind === 'event')).toEqual({ kind: 'event', event: 'agent.removed', payload: { name: 'a' } })
    ws.close()
  })

  it('batches what the host emits in one turn into one frame, and sends output only for subscribed terminals', async () => {
    const { server, emit } = await serve()
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ipc?token=secret-token-123`)
    const frames: Array<Record<string, unknown>> = []
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())))
    await new Promise((r) => ws.once('open', r))
    ws.send(JSON.stringify({ id: 1, command: 'terminal.subscribe', request: { name: 'a' } }))
    await waitFor(() => frames.find((f) => f.kind === 'result'), 'subscribe result')
    expect(frames.shift()).toEqual({ kind: 'result', id: 1, outcome: { ok: true, result: { data: 'scrollback of a\r\n' } } })
    // One turn of the host's loop: output of a subscribed and an unsubscribed agent, and
    // three states of one message (only the last is worth sending).
    emit('terminal.output', { name: 'a', data: 'one ' })
    emit('terminal.output', { name: 'b', data: 'not subscribed' })
    emit('message.changed', { id: 'm1', state: 'sent', replaces: 'local_1' })
    emit('terminal.output', { name: 'a', data: 'two' })
    emit('message.changed', { id: 'm1', state: 'received' })
    emit('agent.removed', { name: 'c' })
    emit('message.changed', { id: 'm1', state: 'typed' })
    await waitFor(() => frames.length, 'the batch')
    expect(frames).toEqual([
      {
        kind: 'batch',
        frames: [
          { kind: 'event', event: 'terminal.output', payload: { name: 'a', data: 'one two' } },
          { kind: 'event', event: 'agent.removed', payload: { name: 'c' } },
          { kind: 'event', event: 'message.changed', payload: { id: 'm1', state: 'typed', replaces: 'local_1' } },
        ],
      },
    ])
    frames.length = 0
    ws.send(JSON.stringify({ id: 2, command: 'terminal.unsubscribe', request: { name: 'a' } }))
    await waitFor(() => frames.find((f) => f.kind === 'result'), 'unsubscribe result')
    emit('terminal.output', { name: 'a', data: 'after' })
    emit('agent.removed', { name: 'd' })
    await waitFor(() => frames.find((f) => f.kind === 'event'), 'the next event')
    expect(frames.slice(1)).toEqual([{ kind: 'event', event: 'agent.removed', payload: { name: 'd' } }])
    ws.close()
  })

  it('sends the events emitted before a result ahead of it', async () => {
    const { server, emit, host } = await serve()
    const invoke = host.invoke
    host.invoke = async (command, req) => {
      // Emitted while the command runs: queued for the next flush, which must not come after the result.
      emit('agent.removed', { name: 'during' })
      return invoke(command, req)
    }
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ipc?token=secret-token-123`)
    const frames: Array<Record<string, unknown>> = []
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())))
    await new Promise((r) => ws.once('open', r))
    ws.send(JSON.stringify({ id: 3, command: 'node.reconnect', request: {} }))
    await waitFor(() => frames.length, 'the answer')
    // One message for both, the event first.
    expect(frames).toEqual([
      {
        kind: 'batch',
        frames: [
          { kind: 'event', event: 'agent.removed', payload: { name: 'during' } },
          { kind: 'result', id: 3, outcome: { ok: true, result: { ok: true } } },
        ],
      },
    ])
    ws.close()
  })

  it('says clearly when the UI is not built', async () => {
    const { host } = recordingHost()
    await expect(startHeadless({ host, staticDir: tempDir('empty') })).rejects.toThrow(/not built.*npm run build/)
  })
})
