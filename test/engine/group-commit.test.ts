/**
 * The mailbox group commit (electron/engine/mailbox/writer.ts): posts, node acks and
 * delivered marks of one event-loop turn go to the store in one transaction; a post's 201
 * waits for that commit; fresh mail is written to the node socket from memory when it
 * continues the socket's stream, else read from the store. What must not change: per-agent
 * seq order, durable before the answer, cumulative acks, redelivery after a crash.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { DELIVERY_CURSOR_CAPABILITY } from '../../shared/wire'
import { api, NodeClient, seedWorld, startTestEngine, waitFor, type Frame, type Harness, type World } from './helpers'

let h: Harness | undefined
const clients: NodeClient[] = []
const children = new Set<ChildProcess>()
const dirs: string[] = []
const pool = new Agent({ keepAlive: true, maxSockets: 64 })

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await h?.stop()
  h = undefined
  for (const c of children) c.kill('SIGKILL')
  children.clear()
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

const CURSOR = [{ name: DELIVERY_CURSOR_CAPABILITY, kind: 'capacity' }]

/** POST /v1/dm over node:http (many in flight at once); resolves with status and body, rejects if the connection dies. */
function postDm(url: string, token: string, to: string, text: string, idempotencyKey?: string): Promise<{ status: number; body: any }> {
  const payload = JSON.stringify({ to, text })
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/dm`, {
      method: 'POST',
      agent: pool,
      headers: {
        authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(payload)
  })
}

async function agentToken(url: string, w: World, name: string): Promise<string> {
  const r = await api(url, 'POST', '/v1/agents', { token: w.wsKey, body: { name } })
  return r.body.data.token as string
}

/** The engine from source in a child process (see fixtures/engine-process.ts). */
async function engineProcess(dataDir: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; exited: Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'engine-process.ts'), dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  children.add(child)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    children.delete(child)
    resolve()
  }))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`engine process did not start within 20 s; stderr:\n${stderr}`)), 20_000)
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolve(line.trim())
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`engine process exited (${code ?? signal}) before listening; stderr:\n${stderr}`))
    })
  })
  return { child, url, exited }
}

const deliversTo = (node: NodeClient, agent: string): Frame[] => node.delivers().filter((f) => f.agent === agent && f.seq > 0)

describe('group commit', () => {
  it('concurrent posts share commits, and each agent still gets gap-free seqs in order, each message once, matching its 201', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    const names = ['ann', 'ben', 'cat']
    for (const n of names) await node.registerAgent(n)
    const commits: Array<{ posts: number }> = []
    h.engine.events.on('committed', (e) => commits.push(e))

    const total = 90
    const answers = await Promise.all(
      Array.from({ length: total }, (_, i) => postDm(h!.url, w.aliceToken, names[i % 3] as string, `m${i}`)),
    )
    expect(answers.every((a) => a.status === 201)).toBe(true)
    const posted = commits.filter((c) => c.posts > 0)
    expect(posted.reduce((n, c) => n + c.posts, 0)).toBe(total)
    // The point of the exercise: fewer commits than posts.
    expect(Math.max(...posted.map((c) => c.posts))).toBeGreaterThan(1)

    await waitFor(() => names.every((n) => deliversTo(node, n).length === total / 3), 5000, 'every deliver frame')
    for (const n of names) {
      const frames = deliversTo(node, n)
      expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: total / 3 }, (_, i) => i + 1))
      for (const f of frames) {
        const answer = answers.find((a) => a.body.data.id === f.msg_id)
        expect(answer?.body.data.delivery.seq).toBe(f.seq)
        expect(f.payload.data.text).toBe(answer?.body.data.message.text)
      }
    }
  })

  it('mail posted while the node was away comes from the store in order, then live mail continues the stream without a gap or a repeat', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    await api(h.url, 'POST', '/v1/agents', { token: w.wsKey, body: { name: 'bob' } })
    for (let i = 1; i <= 3; i++) expect((await postDm(h.url, w.aliceToken, 'bob', `early ${i}`)).status).toBe(201)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    // Live posts race the replay that agent.register starts.
    const registered = node.registerAgent('bob')
    const live = Promise.all(Array.from({ length: 20 }, (_, i) => postDm(h!.url, w.aliceToken, 'bob', `live ${i}`)))
    await registered
    await live
    await waitFor(() => deliversTo(node, 'bob').length >= 23, 5000, '23 frames')
    expect(deliversTo(node, 'bob').map((f) => f.seq)).toEqual(Array.from({ length: 23 }, (_, i) => i + 1))
  })

  it('the same Idempotency-Key twice in one commit writes one message; the second answer is a replay of it', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    await node.registerAgent('bob')
    const commits: Array<{ posts: number }> = []
    h.engine.events.on('committed', (e) => commits.push(e))
    const [a, b] = await Promise.all([
      postDm(h.url, w.aliceToken, 'bob', 'once', 'key-1'),
      postDm(h.url, w.aliceToken, 'bob', 'once', 'key-1'),
    ])
    expect([a.status, b.status].sort()).toEqual([200, 201])
    expect(a.body.data.id).toBe(b.body.data.id)
    expect([a, b].filter((x) => x.body.data.replayed)).toHaveLength(1)
    await node.next((f) => f.type === 'deliver' && f.seq === 1)
    expect((await postDm(h.url, w.aliceToken, 'bob', 'next')).body.data.delivery.seq).toBe(2)
    await node.next((f) => f.type === 'deliver' && f.seq === 2)
    expect(deliversTo(node, 'bob').map((f) => f.seq)).toEqual([1, 2])
  })

  it('acks are coalesced and committed before the next frame is handled: a register right after an ack sees the new cursor', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    await node.registerAgent('bob')
    for (let i = 1; i <= 30; i++) await postDm(h.url, w.aliceToken, 'bob', `m${i}`)
    await node.next((f) => f.type === 'deliver' && f.seq === 30)
    const acked: Array<{ upToSeq: number; messageIds: string[] }> = []
    h.engine.events.on('acked', (e) => acked.push(e))
    // One ack per message, as fast as the socket takes them, then a re-register in the same burst.
    for (let i = 1; i <= 30; i++) node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: i })
    const from = node.frames.length
    node.send({ type: 'agent.register', v: 1, id: 'again', name: 'bob' })
    const reply = await node.next((f) => f.id === 'again', 3000, from)
    expect(reply.data.delivery_ack_seq).toBe(30)
    expect(acked.reduce((n, e) => n + e.messageIds.length, 0)).toBe(30)
    expect(acked.length).toBeLessThan(30)
    expect(acked.at(-1)?.upToSeq).toBe(30)
    // Nothing was replayed: every row is acked.
    const agent = await api(h.url, 'GET', '/v1/agents/bob', { token: w.wsKey })
    expect(agent.body.data.pending_deliveries).toBe(0)
    expect(node.frames.slice(from).filter((f) => f.type === 'deliver')).toEqual([])
  })

  it('a deferred delivery is sent again even though this socket already carried it', async () => {
    h = await startTestEngine()
    const w = await seedWorld(h.url)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    const bob = await node.registerAgent('bob')
    const sent = await postDm(h.url, w.aliceToken, 'bob', 'again please')
    await node.next((f) => f.type === 'deliver' && f.seq === 1)
    const deferred = await api(h.url, 'POST', `/v1/deliveries/${sent.body.data.delivery.id}/defer`, { token: bob.data.token })
    expect(deferred.body.data.status).toBe('queued')
    await waitFor(() => deliversTo(node, 'bob').length === 2, 3000, 'the deferred row sent again')
    expect(deliversTo(node, 'bob').map((f) => f.seq)).toEqual([1, 1])
  })

  it('every 201 is durable: the engine killed mid-burst keeps each answered message, seqs gap-free', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-group-commit-'))
    dirs.push(dataDir)
    h = await startTestEngine({}, dataDir)
    const w = await seedWorld(h.url)
    const token = await agentToken(h.url, w, 'bob')
    await h.engine.close('seeded')
    h = undefined

    const proc = await engineProcess(dataDir)
    const answered: string[] = []
    let killed = false
    await Promise.allSettled(Array.from({ length: 300 }, (_, i) => postDm(proc.url, w.aliceToken, 'bob', `burst ${i}`).then((r) => {
      if (r.status !== 201) throw new Error(`unexpected ${r.status}`)
      answered.push(r.body.data.id as string)
      if (answered.length === 100 && !killed) {
        killed = true
        proc.child.kill('SIGKILL')
      }
    })))
    await proc.exited
    expect(answered.length).toBeGreaterThanOrEqual(100)

    h = await startTestEngine({}, dataDir)
    for (const id of answered) {
      const m = await api(h.url, 'GET', `/v1/messages/${id}`, { token: w.wsKey })
      expect(m.status).toBe(200)
    }
    const queue = await api(h.url, 'GET', '/v1/deliveries?limit=500', { token })
    const seqs = (queue.body.data as Array<{ seq: number }>).map((d) => d.seq)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(seqs.length).toBeGreaterThanOrEqual(answered.length)
  })

  it('the engine holds its database exclusively: a second engine on the same data dir fails to start, and starts once the first is closed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-group-commit-lock-'))
    dirs.push(dataDir)
    h = await startTestEngine({}, dataDir)
    await expect(startTestEngine({}, dataDir)).rejects.toThrow(/locked|busy/i)
    await h.engine.close('done')
    h = await startTestEngine({}, dataDir)
    expect((await api(h.url, 'GET', '/health')).status).toBe(200)
  })

  it('a crash between the commit and the deliver frame: the message is redelivered after the restart, and a retry with its Idempotency-Key replays it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'relay-group-commit-crash-'))
    dirs.push(dataDir)
    h = await startTestEngine({}, dataDir)
    const w = await seedWorld(h.url)
    await h.engine.close('seeded')
    h = undefined

    const proc = await engineProcess(dataDir, { CRASH_AFTER_FIRST_POST_COMMIT: '1' })
    const first = await NodeClient.connect(proc.url, w.nodeToken)
    clients.push(first)
    await first.register(w.nodeName, w.nodeId, CURSOR)
    await first.registerAgent('bob')
    // The engine dies inside this post's commit report: no answer, no frame.
    await expect(postDm(proc.url, w.aliceToken, 'bob', 'survives', 'retry-key')).rejects.toThrow()
    await proc.exited
    expect(first.delivers()).toEqual([])

    h = await startTestEngine({}, dataDir)
    const node = await NodeClient.connect(h.url, w.nodeToken)
    clients.push(node)
    await node.register(w.nodeName, w.nodeId, CURSOR)
    await node.registerAgent('bob')
    const frame = await node.next((f) => f.type === 'deliver' && f.seq === 1)
    expect(frame.payload.data.text).toBe('survives')
    const retry = await postDm(h.url, w.aliceToken, 'bob', 'survives', 'retry-key')
    expect(retry.status).toBe(200)
    expect(retry.body.data).toMatchObject({ id: frame.msg_id, replayed: true })
    node.send({ type: 'delivery.ack', v: 1, agent: 'bob', up_to_seq: 1 })
    expect((await postDm(h.url, w.aliceToken, 'bob', 'after')).body.data.delivery.seq).toBe(2)
    await node.next((f) => f.type === 'deliver' && f.seq === 2)
    expect(deliversTo(node, 'bob').map((f) => f.seq)).toEqual([1, 2])
  })
})
