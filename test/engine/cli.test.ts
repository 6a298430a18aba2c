import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { api, NodeClient, seedWorld } from './helpers'

const TSX = join(process.cwd(), 'node_modules/.bin/tsx')
const CLI = join(process.cwd(), 'electron/engine/cli.ts')
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('engine CLI', () => {
  it('prints the bound URL on its own line, serves /health, exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-engine-cli-'))
    dirs.push(dir)
    const child = spawn(TSX, [CLI, '--port', '0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = exitOf(child)
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`cli exited early (${code})`)))
    })
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(line.endsWith(':0')).toBe(false)
    const health = await fetch(`${line}/health`)
    expect(await health.json()).toEqual({ ok: true, data: { status: 'ok', instance: expect.stringMatching(/^eng_/), leader: true } })
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 20_000)

  it('bad arguments → usage error, exit 2', async () => {
    const child = spawn(TSX, [CLI, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    expect(await exitOf(child)).toBe(2)
    expect(stderr).toContain('usage:')
  }, 20_000)

  it('--database-url / RELAY_DATABASE_URL: not a postgres URL → usage error (exit 2); an unreachable database → exit 1 with the reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-engine-cli-'))
    dirs.push(dir)
    for (const args of [['--database-url', 'mysql://db/relay'], ['--database-url', 'not a url']]) {
      const child = spawn(TSX, [CLI, '--port', '0', '--data-dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
      expect(await exitOf(child)).toBe(2)
      expect(stderr).toMatch(/--database-url must/)
    }
    // Port 1 on loopback: nothing listens; the engine must say so and exit, not hang or start on SQLite.
    const child = spawn(TSX, [CLI, '--port', '0', '--data-dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RELAY_DATABASE_URL: 'postgres://relay@127.0.0.1:1/relay' },
    })
    let stderr = ''
    let stdout = ''
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()))
    expect(await exitOf(child)).toBe(1)
    expect(stderr).toMatch(/ECONNREFUSED/)
    expect(stdout).toBe('')
  }, 30_000)

  it('server mode: limits from flags; SIGTERM closes node and user sockets with a reason, keeps what was written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-engine-cli-'))
    dirs.push(dir)
    const start = () => {
      const child = spawn(TSX, [CLI, '--port', '0', '--data-dir', dir, '--mailbox-ttl', '120', '--max-in-flight', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
      const url = new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve)
        child.once('exit', (code) => reject(new Error(`cli exited early (${code})`)))
      })
      return { child, url, exited: exitOf(child) }
    }
    const first = start()
    const url = await first.url
    const w = await seedWorld(url)
    const node = await NodeClient.connect(url, w.nodeToken)
    await node.register(w.nodeName, w.nodeId)
    const dana = await api(url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'dana', type: 'human' } })
    const user = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/user/ws?token=${dana.body.data.token}`)
    const userClosed = new Promise<{ code: number; reason: string }>((r) => user.once('close', (code, reason) => r({ code, reason: reason.toString() })))
    await new Promise((r) => user.once('open', r))
    await api(url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'offline-bob' } })
    const sent = await api(url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'offline-bob', text: 'kept' } })
    expect(sent.body.data.delivery).toMatchObject({ seq: 1, status: 'queued' })
    const rows = (await api(url, 'GET', `/v1/messages/${sent.body.data.message.id}/deliveries`, { token: w.wsKey })).body.data
    expect(Date.parse(rows[0].expires_at) - Date.parse(rows[0].created_at)).toBe(120_000)
    expect((await api(url, 'POST', '/v1/dm', { token: w.aliceToken, body: { to: 'offline-bob', text: 'over the cap' } })).body.error?.code).toBe('mailbox_full')
    first.child.kill('SIGTERM')
    const nodeClosed = await new Promise<{ code: number; reason: string }>((resolve) => {
      const check = () => node.closed && resolve(node.closed)
      node.ws.once('close', () => setImmediate(check))
      check()
    })
    expect(nodeClosed).toEqual({ code: 1001, reason: 'engine_shutdown:SIGTERM' })
    expect(await userClosed).toEqual({ code: 1001, reason: 'engine_shutdown:SIGTERM' })
    expect(await first.exited).toBe(0)
    const second = start()
    const url2 = await second.url
    const bobRow = (await api(url2, 'GET', '/v1/agents/offline-bob', { token: w.wsKey })).body.data
    expect(bobRow).toMatchObject({ pending_deliveries: 1, delivery_seq: 1 })
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 30_000)
})
