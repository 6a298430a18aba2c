/**
 * Store conformance: the same behaviours run against the SQLite store (through the
 * asyncStore adapter) and the PostgreSQL store on a real throwaway cluster. Each backend
 * gets two stores on one database ("instance A" and "instance B": two SQLite connections
 * to one file, or two pg pools), and the concurrency cases spread their calls over both,
 * as several engine instances would. No sleeps: every wait is a promise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { deliveryId, hashToken, newId } from '../../electron/engine/ids'
import { asyncStore } from '../../electron/engine/store/async'
import { createPool, migratePg, openPgStore, PG_MIGRATIONS, retryStats, type PgStore } from '../../electron/engine/store/pg'
import { openSqliteStore } from '../../electron/engine/store/sqlite'
import type {
  AgentRow, AsyncStore, ChannelRow, ConversationRow, DeliveryRow, InvocationRow, NewNode, PostChannelInput, PostDmInput, WorkspaceRow,
} from '../../electron/engine/store/types'
import { postgresAvailability, usePostgres, type PostgresCluster } from '../support/postgres'
import { tempDir } from '../support/wait'

const TTL = 3_600_000

interface Harness {
  /** Instance A. */
  s: AsyncStore
  /** Instance B: another connection/pool on the same database. */
  peer: AsyncStore
  /** Transactions the backend re-ran after a deadlock so far (the lock ordering should keep it at 0). */
  retries: () => number
}

/** Alternates between the two instances. */
const either = (h: Harness, i: number): AsyncStore => (i % 2 === 0 ? h.s : h.peer)

interface Ws { ws: WorkspaceRow; general: ChannelRow; now: number }

async function workspace(s: AsyncStore): Promise<Ws> {
  const now = Date.now()
  const ws: WorkspaceRow = { id: newId('ws_'), name: 'conformance', createdAt: now }
  const general: ChannelRow = { id: newId('ch_'), workspaceId: ws.id, name: 'general', topic: null, createdAt: now }
  await s.workspaces.create(ws, hashToken(newId('key_')), general)
  return { ws, general, now }
}

async function agent(s: AsyncStore, wsId: string, name: string, over: Partial<AgentRow> = {}, tokenHash = hashToken(newId('tok_'))): Promise<AgentRow> {
  const row: AgentRow = {
    id: newId('agt_'), workspaceId: wsId, name, type: 'agent', status: 'active', metadata: {}, nodeId: null, deliverySeq: 0,
    deliveryAckSeq: 0, originNodeId: null, lastSeenAt: null, wireSeqBase: 0, revokedAt: null, createdAt: Date.now(), ...over,
  }
  await s.agents.insert(row, tokenHash)
  return row
}

async function channel(s: AsyncStore, wsId: string, name: string, members: AgentRow[], at = Date.now()): Promise<ChannelRow> {
  const ch: ChannelRow = { id: newId('ch_'), workspaceId: wsId, name, topic: null, createdAt: at }
  await s.channels.insert(ch)
  for (const m of members) await s.channels.join(ch.id, m.id, at)
  return ch
}

function node(wsId: string, name: string, over: Partial<NewNode> = {}): NewNode {
  return {
    id: newId('node_'), workspaceId: wsId, name, kind: 'ws', role: 'broker', version: 'relay-broker/1', machineId: null,
    capabilities: [{ name: 'spawn:codex', kind: 'spawn' }], tags: ['linux'], maxAgents: 2, deliveryAdapter: 'ws.node.v1',
    createdAt: Date.now(), tokenHash: hashToken(newId('nt_')), ...over,
  }
}

async function dm(s: AsyncStore, w: Ws, from: AgentRow, to: AgentRow, extra: Partial<PostDmInput> = {}) {
  const r = await s.mail.postDm({
    workspaceId: w.ws.id, from, to, conversationId: newId('conv_'), messageId: newId('msg_'), text: 'hello', mode: 'wait',
    attachments: [], now: w.now, ttlMs: TTL, maxInFlight: 1000, ...extra,
  })
  return r
}

async function dmOk(s: AsyncStore, w: Ws, from: AgentRow, to: AgentRow, extra: Partial<PostDmInput> = {}) {
  const r = await dm(s, w, from, to, extra)
  if (!r.ok) throw new Error(`DM refused: ${r.reason}`)
  return r
}

function post(s: AsyncStore, w: Ws, from: AgentRow, ch: ChannelRow, extra: Partial<PostChannelInput> = {}) {
  return s.mail.postChannelMessage({
    workspaceId: w.ws.id, from, channel: ch, messageId: newId('msg_'), text: 'hello all', mode: 'wait', attachments: [],
    now: w.now, ttlMs: TTL, maxInFlight: 1000, ...extra,
  })
}

const seqs = (rows: DeliveryRow[]) => rows.map((d) => d.seq)
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

async function allSeqs(s: AsyncStore, agentId: string): Promise<number[]> {
  const rows = await s.mail.deliveriesAfter(agentId, 0, 10_000)
  return seqs(rows)
}

/** The behaviours both backends must share. */
function conformance(get: () => Harness): void {
  it('workspaces: create seeds #general atomically; get and byKeyHash find it; a duplicate key writes nothing', async () => {
    const { s } = get()
    const w = await workspace(s)
    expect(await s.workspaces.get(w.ws.id)).toEqual(w.ws)
    expect(await s.channels.byName(w.ws.id, 'general')).toEqual(w.general)
    const key = hashToken(newId('key_'))
    const ws2: WorkspaceRow = { id: newId('ws_'), name: 'two', createdAt: w.now }
    await s.workspaces.create(ws2, key, { id: newId('ch_'), workspaceId: ws2.id, name: 'general', topic: 't', createdAt: w.now })
    expect(await s.workspaces.byKeyHash(key)).toEqual(ws2)
    expect(await s.workspaces.byKeyHash('nope')).toBeUndefined()
    const ws3: WorkspaceRow = { id: newId('ws_'), name: 'three', createdAt: w.now }
    await expect(s.workspaces.create(ws3, key, { id: newId('ch_'), workspaceId: ws3.id, name: 'general', topic: null, createdAt: w.now }))
      .rejects.toThrow()
    expect(await s.workspaces.get(ws3.id)).toBeUndefined()
    expect(await s.channels.byName(ws3.id, 'general')).toBeUndefined()
  })

  it('nodes: lookups, register, heartbeat (absent fields kept), handlers, stale, re-enrol, lost, delete', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const n = node(w.ws.id, 'b-node', { machineId: 'm-1' })
    await s.nodes.insert(n)
    await s.nodes.insert(node(w.ws.id, 'a-node', { role: 'direct', maxAgents: 1 }))
    const got = await peer.nodes.get(n.id)
    expect(got).toMatchObject({
      id: n.id, name: 'b-node', status: 'offline', handlersLive: false, load: null, activeAgents: 0, reservedAgents: 0,
      lastHeartbeatAt: null, capabilities: n.capabilities, tags: ['linux'], machineId: 'm-1', maxAgents: 2, deliveryAdapter: 'ws.node.v1',
    })
    expect((await s.nodes.byName(w.ws.id, 'b-node'))?.id).toBe(n.id)
    expect((await s.nodes.byMachineId(w.ws.id, 'm-1'))?.id).toBe(n.id)
    expect((await s.nodes.byTokenHash(n.tokenHash))?.id).toBe(n.id)
    expect((await s.nodes.list(w.ws.id)).map((x) => x.name)).toEqual(['a-node', 'b-node'])
    expect(await s.nodes.get('node_missing')).toBeUndefined()

    const t = w.now
    await s.nodes.markRegistered(n.id, {
      name: 'b-node', version: 'relay-broker/2', machineId: null, capabilities: [{ name: 'spawn:claude', kind: 'spawn' }], tags: [], maxAgents: 3, at: t,
    })
    expect(await peer.nodes.get(n.id)).toMatchObject({
      status: 'online', lastHeartbeatAt: t, machineId: 'm-1', version: 'relay-broker/2', maxAgents: 3, tags: [],
      capabilities: [{ name: 'spawn:claude', kind: 'spawn' }],
    })
    await s.nodes.heartbeat(n.id, { at: t + 1, activeAgents: 1, handlersLive: true })
    expect(await s.nodes.get(n.id)).toMatchObject({ lastHeartbeatAt: t + 1, load: null, activeAgents: 1, handlersLive: true, maxAgents: 3, version: 'relay-broker/2' })
    await s.nodes.heartbeat(n.id, { at: t + 2, load: 0.25, activeAgents: 2, handlersLive: true, capabilities: [], maxAgents: 4, version: 'v3' })
    expect(await s.nodes.get(n.id)).toMatchObject({ lastHeartbeatAt: t + 2, load: 0.25, activeAgents: 2, capabilities: [], maxAgents: 4, version: 'v3' })
    await s.nodes.heartbeat(n.id, { at: t + 3, activeAgents: 2, handlersLive: false })
    expect(await s.nodes.get(n.id)).toMatchObject({ load: 0.25, handlersLive: false, capabilities: [] })
    await s.nodes.setHandlersLive(n.id, true)
    expect((await s.nodes.get(n.id))?.handlersLive).toBe(true)

    const stale = async (cutoff: number) => (await s.nodes.staleOnline(cutoff)).map((x) => x.id).filter((id) => id === n.id)
    expect(await stale(t + 3)).toEqual([])
    expect(await stale(t + 4)).toEqual([n.id])

    const agentOnNode = await agent(s, w.ws.id, 'worker', { nodeId: n.id, status: 'active' })
    // A late close of an older socket (socket_1) after the node registered on socket_2 (on
    // another instance, say) leaves it online with its agents; only the newest socket's close counts.
    await s.nodes.markRegistered(n.id, { name: 'b-node', version: 'v3', machineId: null, capabilities: [], tags: [], maxAgents: 4, at: t + 3, socketId: 'conn_2' })
    expect(await peer.nodes.markLost(n.id, { socketId: 'conn_1' })).toBe(false)
    expect(await s.nodes.get(n.id)).toMatchObject({ status: 'online' })
    expect(await s.agents.get(agentOnNode.id)).toMatchObject({ status: 'active' })
    // The liveness sweep's guard: a heartbeat at t + 3 is not older than t + 3.
    expect(await peer.nodes.markLost(n.id, { heartbeatBefore: t + 3 })).toBe(false)
    expect((await s.nodes.get(n.id))?.socketId).toBe('conn_2')
    expect(await peer.nodes.markLost(n.id, { socketId: 'conn_2' })).toBe(true)
    expect(await s.agents.get(agentOnNode.id)).toMatchObject({ status: 'offline' })
    await s.agents.setStatus(agentOnNode.id, 'active')
    expect(await s.nodes.markLost(n.id)).toBe(true)
    expect(await s.nodes.get(n.id)).toMatchObject({ status: 'offline', handlersLive: false })
    expect(await s.agents.get(agentOnNode.id)).toMatchObject({ status: 'offline', nodeId: n.id })

    const newToken = hashToken(newId('nt_'))
    await s.nodes.markRegistered(n.id, { name: 'b-node', version: 'v3', machineId: null, capabilities: [], tags: [], maxAgents: 4, at: t + 5 })
    await s.nodes.reenrol(n.id, {
      name: 'b-renamed', kind: 'ws', role: 'broker', version: 'v4', machineId: 'm-2', capabilities: [{ name: 'x', kind: 'action' }],
      tags: ['mac'], maxAgents: 0, deliveryAdapter: null, tokenHash: newToken,
    })
    expect(await s.nodes.get(n.id)).toMatchObject({ name: 'b-renamed', status: 'offline', handlersLive: false, machineId: 'm-2', maxAgents: 0, deliveryAdapter: null, tags: ['mac'] })
    expect((await s.nodes.byTokenHash(newToken))?.id).toBe(n.id)
    expect(await s.nodes.byTokenHash(n.tokenHash)).toBeUndefined()

    await s.nodes.markRegistered(n.id, { name: 'b-renamed', version: 'v4', machineId: null, capabilities: [], tags: [], maxAgents: 0, at: t + 6 })
    await s.nodes.setOffline(n.id)
    expect((await s.nodes.get(n.id))?.status).toBe('offline')
    await s.nodes.markRegistered(n.id, { name: 'b-renamed', version: 'v4', machineId: null, capabilities: [], tags: [], maxAgents: 0, at: t + 7 })
    await s.nodes.resetAllOffline()
    expect(await s.nodes.get(n.id)).toMatchObject({ status: 'offline', handlersLive: false })

    await s.agents.bind(agentOnNode.id, n.id, 'active')
    await s.nodes.delete(n.id)
    expect(await s.nodes.get(n.id)).toBeUndefined()
    expect(await s.agents.get(agentOnNode.id)).toMatchObject({ nodeId: null, status: 'offline' })
    await expect(s.nodes.insert(node(w.ws.id, 'a-node'))).rejects.toThrow()
  })

  it('nodes: reservations are guarded by capacity (0 = unbounded), release never goes below zero, and concurrent reservers never overbook', async () => {
    const h = get()
    const { s } = h
    const w = await workspace(s)
    const n = node(w.ws.id, 'cap', { maxAgents: 2 })
    await s.nodes.insert(n)
    expect([await s.nodes.reserve(n.id), await s.nodes.reserve(n.id), await s.nodes.reserve(n.id)]).toEqual([true, true, false])
    await s.nodes.release(n.id)
    expect(await s.nodes.reserve(n.id)).toBe(true)
    for (let i = 0; i < 5; i++) await s.nodes.release(n.id)
    expect((await s.nodes.get(n.id))?.reservedAgents).toBe(0)
    await s.nodes.heartbeat(n.id, { at: w.now, activeAgents: 1, handlersLive: true })
    expect([await s.nodes.reserve(n.id), await s.nodes.reserve(n.id)]).toEqual([true, false])

    const unbounded = node(w.ws.id, 'unbounded', { maxAgents: 0 })
    await s.nodes.insert(unbounded)
    for (let i = 0; i < 10; i++) expect(await s.nodes.reserve(unbounded.id)).toBe(true)
    expect((await s.nodes.get(unbounded.id))?.reservedAgents).toBe(10)

    const five = node(w.ws.id, 'five', { maxAgents: 5 })
    await s.nodes.insert(five)
    const results = await Promise.all(range(1, 40).map((i) => either(h, i).nodes.reserve(five.id)))
    expect(results.filter(Boolean)).toHaveLength(5)
    expect((await s.nodes.get(five.id))?.reservedAgents).toBe(5)
    await Promise.all(range(1, 40).map((i) => either(h, i).nodes.release(five.id)))
    expect((await s.nodes.get(five.id))?.reservedAgents).toBe(0)
  })

  it('agents: lookups, JSON metadata, token rotation and revoke, assume keeps the first origin, bind and status, wire base, touch', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const token = hashToken(newId('tok_'))
    const b = await agent(s, w.ws.id, 'beta', { metadata: { nested: { list: [1, 'two', null], ok: true }, label: 'x' }, type: 'human' }, token)
    const a = await agent(s, w.ws.id, 'alpha', { status: 'offline', lastSeenAt: 5 })
    expect(await peer.agents.get(b.id)).toEqual(b)
    expect(await s.agents.byName(w.ws.id, 'alpha')).toEqual(a)
    expect(await s.agents.byTokenHash(token)).toEqual(b)
    expect((await s.agents.list(w.ws.id)).map((x) => x.name)).toEqual(['alpha', 'beta'])
    expect(await s.agents.get('agt_missing')).toBeUndefined()
    await expect(agent(s, w.ws.id, 'alpha')).rejects.toThrow()

    const t2 = hashToken(newId('tok_'))
    await s.agents.setToken(b.id, t2)
    expect(await s.agents.byTokenHash(token)).toBeUndefined()
    expect((await s.agents.byTokenHash(t2))?.id).toBe(b.id)
    await s.agents.revoke(b.id, 1234)
    expect(await s.agents.byTokenHash(t2)).toBeUndefined()
    expect((await s.agents.get(b.id))?.revokedAt).toBe(1234)
    await s.agents.setToken(b.id, t2)
    expect((await s.agents.get(b.id))?.revokedAt).toBeNull()

    await s.agents.assume(a.id, 'node_one', hashToken('t3'))
    expect(await s.agents.get(a.id)).toMatchObject({ nodeId: 'node_one', status: 'active', originNodeId: 'node_one', revokedAt: null })
    await s.agents.recover(a.id, 'node_two', hashToken('t4'))
    expect(await s.agents.get(a.id)).toMatchObject({ nodeId: 'node_two', originNodeId: 'node_one' })
    expect((await s.agents.byTokenHash(hashToken('t4')))?.id).toBe(a.id)
    expect((await s.agents.listOnNode('node_two')).map((x) => x.id)).toEqual([a.id])

    await s.agents.bind(a.id, null, 'offline')
    expect(await s.agents.get(a.id)).toMatchObject({ nodeId: null, status: 'offline' })
    await s.agents.setStatus(a.id, 'active')
    await s.agents.setWireSeqBase(a.id, 7)
    await s.agents.touch(a.id, 99)
    expect(await s.agents.get(a.id)).toMatchObject({ status: 'active', wireSeqBase: 7, lastSeenAt: 99 })
  })

  it('channels: insert, join is idempotent, members by name, leave, memberOf, list with counts', async () => {
    const { s } = get()
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'zed')
    const b = await agent(s, w.ws.id, 'amy')
    const dev = await channel(s, w.ws.id, 'dev', [], w.now)
    expect(await s.channels.get(dev.id)).toEqual(dev)
    expect(await s.channels.join(dev.id, a.id, 10)).toBe(true)
    expect(await s.channels.join(dev.id, a.id, 11)).toBe(false)
    expect(await s.channels.join(dev.id, b.id, 12)).toBe(true)
    expect((await s.channels.members(dev.id)).map((m) => [m.agent.name, m.joinedAt])).toEqual([['amy', 12], ['zed', 10]])
    expect(await s.channels.isMember(dev.id, a.id)).toBe(true)
    expect((await s.channels.memberOf(a.id)).map((c) => c.name)).toEqual(['dev'])
    await s.channels.join(w.general.id, a.id, 13)
    expect((await s.channels.memberOf(a.id)).map((c) => c.name)).toEqual(['dev', 'general'])
    expect((await s.channels.list(w.ws.id)).map((c) => [c.name, c.memberCount])).toEqual([['dev', 2], ['general', 1]])
    expect(await s.channels.leave(dev.id, a.id)).toBe(true)
    expect(await s.channels.leave(dev.id, a.id)).toBe(false)
    expect(await s.channels.isMember(dev.id, a.id)).toBe(false)
    await expect(s.channels.insert({ ...dev, id: newId('ch_') })).rejects.toThrow()
  })

  it('DMs: one conversation per pair (either direction), per-recipient seqs 1..n, reject-new at the cap writes nothing', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const b = await agent(s, w.ws.id, 'b')
    const first = await dmOk(s, w, a, b, { text: 'one', attachments: [{ name: 'f.txt', size: 3 }] })
    const second = await dmOk(peer, w, a, b, { text: 'two', mode: 'steer' })
    const third = await dmOk(s, w, a, b, { text: 'three' })
    expect([first, second, third].map((r) => r.delivery.seq)).toEqual([1, 2, 3])
    expect(new Set([first, second, third].map((r) => r.conversation.id)).size).toBe(1)
    const back = await dmOk(peer, w, b, a)
    expect(back.conversation.id).toBe(first.conversation.id)
    expect(back.delivery.seq).toBe(1)

    const conv = first.conversation
    expect(conv).toMatchObject({ kind: 'dm', name: null, workspaceId: w.ws.id })
    expect([conv.agentA, conv.agentB]).toEqual([a.id, b.id].sort())
    expect(await s.mail.conversation(w.ws.id, conv.id)).toEqual(conv)
    expect(await s.mail.conversationMembers(conv.id)).toEqual([a.id, b.id].sort())
    expect((await s.mail.conversationsFor(b.id)).map((c) => c.id)).toEqual([conv.id])

    expect(first.delivery).toMatchObject({
      id: deliveryId(first.message.id, b.id), agentId: b.id, messageId: first.message.id, status: 'queued', mode: 'wait',
      expiresAt: w.now + TTL, deliveredAt: null, ackedAt: null, deadLetteredAt: null, reason: null, failedAt: null, createdAt: w.now,
    })
    expect(second.delivery.mode).toBe('steer')
    expect(await peer.mail.delivery(w.ws.id, first.delivery.id)).toEqual(first.delivery)
    expect(await peer.mail.message(w.ws.id, first.message.id)).toEqual(first.message)
    expect(first.message).toMatchObject({ text: 'one', attachments: [{ name: 'f.txt', size: 3 }], conversationId: conv.id, channelId: null, threadId: null })
    expect((await s.mail.deliveriesForMessage(first.message.id)).map((d) => d.id)).toEqual([first.delivery.id])

    const full = await dm(s, w, a, b, { maxInFlight: 3 })
    expect(full).toEqual({ ok: false, reason: 'mailbox_full' })
    expect((await s.agents.get(b.id))?.deliverySeq).toBe(3)
    expect(await allSeqs(s, b.id)).toEqual([1, 2, 3])
    // Expired mail does not count towards the cap.
    const later = await dm(s, w, a, b, { maxInFlight: 3, now: w.now + TTL })
    expect(later.ok && later.delivery.seq).toBe(4)
  })

  it('channel posts fan out to every member but the sender, each at its own next seq; a full mailbox gets a durable failure row instead', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const [a, b, c, outsider] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b'), await agent(s, w.ws.id, 'c'), await agent(s, w.ws.id, 'd')]
    const dev = await channel(s, w.ws.id, 'dev', [c, a, b])
    await dmOk(s, w, a, c)
    const r1 = await post(peer, w, a, dev, { text: 'ship it', attachments: ['x'] })
    expect(r1.deliveries.map((d) => [d.agentId, d.seq])).toEqual([[b.id, 1], [c.id, 2]])
    expect(r1).toMatchObject({ rejected: [], failures: [] })
    expect(r1.message).toMatchObject({ channelId: dev.id, conversationId: null, text: 'ship it', attachments: ['x'], agentId: a.id })
    const r2 = await post(s, w, outsider, dev)
    expect(r2.deliveries.map((d) => [d.agentId, d.seq])).toEqual([[a.id, 1], [b.id, 2], [c.id, 3]])

    // c holds 3 in-flight rows, b 2: a cap of 3 rejects c only.
    const r3 = await post(s, w, a, dev, { maxInFlight: 3 })
    expect(r3.deliveries.map((d) => d.agentId)).toEqual([b.id])
    expect(r3.rejected).toEqual(['c'])
    expect(r3.failures).toHaveLength(1)
    expect(r3.failures[0]).toMatchObject({ recipientId: c.id, senderId: a.id, messageId: r3.message.id, reason: 'depth_cap', createdAt: w.now, workspaceId: w.ws.id })
    expect(await peer.mail.failuresForMessage(r3.message.id)).toEqual(r3.failures)
    expect(await s.mail.deliveriesForMessage(r3.message.id)).toEqual(r3.deliveries)
    expect((await s.agents.get(c.id))?.deliverySeq).toBe(3)

    const reply = await post(s, w, b, dev, { threadId: r1.message.id, text: 'on it' })
    expect(reply.message.threadId).toBe(r1.message.id)
    expect(await s.mail.message(w.ws.id, reply.message.id)).toEqual(reply.message)
    const lonely = await channel(s, w.ws.id, 'lonely', [a])
    expect((await post(s, w, a, lonely)).deliveries).toEqual([])
  })

  it('a message id (Idempotency-Key) is written once: a repeat post is refused and takes no seq, also when raced from both instances', async () => {
    const h = get()
    const { s } = h
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const b = await agent(s, w.ws.id, 'b')
    const dev = await channel(s, w.ws.id, 'dev', [a, b])
    const id = newId('msg_')
    await post(s, w, a, dev, { messageId: id })
    await expect(post(h.peer, w, a, dev, { messageId: id })).rejects.toThrow()
    expect((await s.agents.get(b.id))?.deliverySeq).toBe(1)
    expect(await s.mail.deliveriesForMessage(id)).toHaveLength(1)

    const raced = newId('msg_')
    const outcomes = await Promise.allSettled(range(1, 12).map((i) => dm(either(h, i), w, a, b, { messageId: raced, text: `try ${i}` })))
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    expect((await s.agents.get(b.id))?.deliverySeq).toBe(2)
    expect(await allSeqs(s, b.id)).toEqual([1, 2])
    expect(await s.mail.deliveriesForMessage(raced)).toHaveLength(1)
  })

  it('200 concurrent posts to one agent from both instances (DMs from 10 senders, channel posts) get unique, gap-free seqs', async () => {
    const h = get()
    const { s } = h
    const w = await workspace(s)
    const target = await agent(s, w.ws.id, 'target')
    const senders: AgentRow[] = []
    for (let i = 0; i < 10; i++) senders.push(await agent(s, w.ws.id, `sender-${i}`))
    const others = senders.slice(0, 4)
    const room = await channel(s, w.ws.id, 'room', [target, ...others])
    const retriesBefore = h.retries()
    const posts = range(0, 199).map((i) => {
      const store = either(h, i)
      const from = senders[i % senders.length]
      return i % 4 === 3 ? post(store, w, from, room, { text: `channel ${i}` }) : dmOk(store, w, from, target, { text: `dm ${i}` })
    })
    await Promise.all(posts)
    expect(await allSeqs(s, target.id)).toEqual(range(1, 200))
    expect((await h.peer.agents.get(target.id))?.deliverySeq).toBe(200)
    // Every channel member's own sequence is gap-free too.
    for (const m of others) {
      const got = await allSeqs(s, m.id)
      expect(got).toEqual(range(1, got.length))
    }
    // One DM conversation per sender, even though each sender's first DMs raced to open it.
    expect((await s.mail.conversationsFor(target.id))).toHaveLength(10)
    // Locks are taken in one order (id), so no transaction had to be re-run for a deadlock.
    expect(h.retries() - retriesBefore).toBe(0)
  })

  it('ackUpTo is cumulative, clamps to the high-water mark, is idempotent, writes read receipts, and concurrent acks move each row once', async () => {
    const h = get()
    const { s, peer } = h
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const b = await agent(s, w.ws.id, 'b')
    const sent = []
    for (let i = 0; i < 5; i++) sent.push(await dmOk(s, w, a, b, { text: `m${i}` }))
    const at = w.now + 10
    const first = await s.mail.ackUpTo(b.id, 3, at)
    expect(seqs(first)).toEqual([1, 2, 3])
    expect(first.every((d) => d.status === 'acked' && d.ackedAt === at)).toBe(true)
    expect((await peer.agents.get(b.id))?.deliveryAckSeq).toBe(3)
    expect(await s.mail.readers(sent[0].message.id)).toEqual([{ agentId: b.id, readAt: at }])
    expect(await s.mail.ackUpTo(b.id, 3, at)).toEqual([])
    expect(await s.mail.ackUpTo(b.id, 2, at)).toEqual([])
    expect((await s.agents.get(b.id))?.deliveryAckSeq).toBe(3)
    expect(seqs(await peer.mail.ackUpTo(b.id, 99, at))).toEqual([4, 5])
    expect((await s.agents.get(b.id))?.deliveryAckSeq).toBe(5)
    const next = await dmOk(s, w, a, b)
    expect(next.delivery.seq).toBe(6)
    expect(seqs(await s.mail.pendingFor(b.id, w.now, true))).toEqual([6])

    for (let i = 0; i < 4; i++) await dmOk(s, w, a, b)
    const failed = (await s.mail.pendingFor(b.id, w.now, false))[1]
    expect((await s.mail.failOne(failed.id, at, 'nope'))?.status).toBe('failed')
    const concurrent = await Promise.all([8, 10, 10, 9, 7, 10].map((up, i) => either(h, i).mail.ackUpTo(b.id, up, at)))
    expect(concurrent.flat().map((d) => d.seq).sort((x, y) => x - y)).toEqual([6, 7, 8, 9, 10])
    for (const rows of concurrent) expect(seqs(rows)).toEqual([...seqs(rows)].sort((x, y) => x - y))
    expect((await s.agents.get(b.id))?.deliveryAckSeq).toBe(10)
    expect(await s.mail.pendingFor(b.id, w.now, true)).toEqual([])
    expect(await s.mail.ackUpTo('agt_missing', 5, at)).toEqual([])
  })

  it('pendingFor, markDelivered (guarded, once), pendingCount and the re-drive queries', async () => {
    const h = get()
    const { s, peer } = h
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const b = await agent(s, w.ws.id, 'b')
    const d: DeliveryRow[] = []
    for (let i = 0; i < 3; i++) d.push((await dmOk(s, w, a, b)).delivery)
    expect(seqs(await s.mail.pendingFor(b.id, w.now, false))).toEqual([1, 2, 3])
    expect(await s.agents.pendingCount(b.id, w.now)).toBe(3)
    expect(await s.mail.agentsWithQueued(w.now)).toContain(b.id)

    const flips = await Promise.all(range(1, 6).map((i) => either(h, i).mail.markDelivered(d[0].id, w.now)))
    expect(flips.filter(Boolean)).toHaveLength(1)
    expect(await s.mail.markDelivered(d[0].id, w.now)).toBe(false)
    expect(seqs(await s.mail.pendingFor(b.id, w.now, false))).toEqual([2, 3])
    expect(seqs(await peer.mail.pendingFor(b.id, w.now, true))).toEqual([1, 2, 3])
    expect((await s.mail.delivery(w.ws.id, d[0].id))).toMatchObject({ status: 'delivered', deliveredAt: w.now })
    expect(await s.mail.agentsWithUnackedDelivered(w.now + 1, w.now)).toContain(b.id)
    expect(await s.mail.agentsWithUnackedDelivered(w.now, w.now)).not.toContain(b.id)

    await s.mail.ackUpTo(b.id, 1, w.now)
    expect(await s.agents.pendingCount(b.id, w.now)).toBe(2)
    expect(seqs(await s.mail.pendingFor(b.id, w.now, true))).toEqual([2, 3])
    expect(await s.mail.agentsWithUnackedDelivered(w.now + 1, w.now)).not.toContain(b.id)
    // Past expires_at nothing is pending, even before the expiry sweep ran.
    expect(await s.mail.pendingFor(b.id, w.now + TTL, true)).toEqual([])
    expect(await s.agents.pendingCount(b.id, w.now + TTL)).toBe(0)
    expect(await s.mail.agentsWithQueued(w.now + TTL)).not.toContain(b.id)
  })

  it('expiry dead-letters queued, delivered and failed rows past expires_at exactly once, even with two sweepers', async () => {
    const h = get()
    const { s } = h
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const c = await agent(s, w.ws.id, 'c')
    const rows = []
    for (let i = 0; i < 4; i++) rows.push((await dmOk(s, w, a, c)).delivery)
    await s.mail.markDelivered(rows[0].id, w.now)
    await s.mail.failOne(rows[1].id, w.now, 'broken')
    await s.mail.ackOne(rows[3].id, w.now)
    const mine = (list: DeliveryRow[]) => list.filter((d) => d.workspaceId === w.ws.id)
    expect(mine(await s.mail.expire(w.now + TTL - 1))).toEqual([])
    const at = w.now + TTL
    const [x, y] = await Promise.all([s.mail.expire(at), h.peer.mail.expire(at)])
    const expired = [...mine(x), ...mine(y)]
    expect(expired.map((d) => d.seq).sort()).toEqual([1, 2, 3])
    expect(expired.every((d) => d.status === 'dead_lettered' && d.reason === 'ttl_expired' && d.deadLetteredAt === at)).toBe(true)
    expect(mine(await s.mail.expire(at + 1))).toEqual([])
    expect((await s.mail.delivery(w.ws.id, rows[3].id))?.status).toBe('acked')
    expect(await s.mail.pendingFor(c.id, w.now, true)).toEqual([])
    expect(seqs(await s.mail.deliveriesAfter(c.id, 0, 10))).toEqual([4])
    // Acked and dead-lettered rows are terminal: the cursor compacts over all of them.
    expect(await s.mail.compactCursor(c.id)).toBe(4)
  })

  it('single-row transitions: ackOne, failOne, deferOne, markRead; compactCursor closes leading gaps', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const d = await agent(s, w.ws.id, 'd')
    const sent = []
    for (let i = 0; i < 4; i++) sent.push(await dmOk(s, w, a, d))
    const [r1, r2, r3] = sent.map((x) => x.delivery)
    expect(await s.mail.ackOne(r2.id, 5)).toMatchObject({ id: r2.id, status: 'acked', ackedAt: 5 })
    expect(await peer.mail.ackOne(r2.id, 6)).toBeUndefined()
    expect(await s.mail.readers(sent[1].message.id)).toEqual([{ agentId: d.id, readAt: 5 }])
    expect(await s.mail.compactCursor(d.id)).toBe(0)
    await s.mail.ackOne(r1.id, 7)
    expect(await peer.mail.compactCursor(d.id)).toBe(2)
    expect((await s.agents.get(d.id))?.deliveryAckSeq).toBe(2)

    expect(await s.mail.failOne(r3.id, 8, 'boom')).toMatchObject({ status: 'failed', failedAt: 8, reason: 'boom' })
    expect(await s.mail.failOne(r3.id, 9, 'again')).toBeUndefined()
    expect(await s.mail.deferOne(r3.id)).toMatchObject({ status: 'queued' })
    expect(await s.mail.deferOne(r3.id)).toBeUndefined()
    await s.mail.markDelivered(r3.id, 10)
    expect(await s.mail.deferOne(r3.id)).toMatchObject({ status: 'queued' })

    const read = await s.mail.markRead(sent[3].message.id, d.id, 11)
    expect(read).toMatchObject({ seq: 4, status: 'acked', ackedAt: 11 })
    expect(await s.mail.markRead(sent[3].message.id, d.id, 12)).toBeUndefined()
    expect(await s.mail.readers(sent[3].message.id)).toEqual([{ agentId: d.id, readAt: 11 }])
    expect(await s.mail.compactCursor(d.id)).toBe(2)
    await s.mail.ackOne(r3.id, 13)
    expect(await s.mail.compactCursor(d.id)).toBe(4)
    expect(await s.mail.compactCursor('agt_missing')).toBe(0)
    // A reader without a delivery row still gets a receipt.
    expect(await s.mail.markRead(sent[0].message.id, a.id, 14)).toBeUndefined()
    expect((await s.mail.readers(sent[0].message.id)).map((r) => r.agentId)).toEqual([d.id, a.id])
  })

  it('groups and threads: createGroup, members, postConversation fan-out, replies in order, reply counts, conversationsFor', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const [a, b, c, d] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b'), await agent(s, w.ws.id, 'c'), await agent(s, w.ws.id, 'd')]
    const id = newId('conv_')
    const group: ConversationRow = { id, workspaceId: w.ws.id, kind: 'group', name: 'trio', agentA: id, agentB: id, createdAt: w.now }
    await s.mail.createGroup(group, [c.id, a.id, b.id, a.id])
    expect(await peer.mail.conversation(w.ws.id, id)).toEqual(group)
    expect(await s.mail.conversationMembers(id)).toEqual([a.id, b.id, c.id].sort())
    expect(await s.mail.addConversationMember(id, d.id, w.now + 1)).toBe(true)
    expect(await s.mail.addConversationMember(id, d.id, w.now + 2)).toBe(false)
    expect(await s.mail.removeConversationMember(id, d.id)).toBe(true)
    expect(await s.mail.removeConversationMember(id, d.id)).toBe(false)

    const r = await peer.mail.postConversation({
      workspaceId: w.ws.id, from: a, conversation: group, messageId: newId('msg_'), text: 'group hello', mode: 'steer', attachments: [],
      now: w.now, ttlMs: TTL, maxInFlight: 1000,
    })
    expect(r.deliveries.map((x) => [x.agentId, x.seq, x.mode])).toEqual([[b.id, 1, 'steer'], [c.id, 1, 'steer']])
    expect(r.message).toMatchObject({ conversationId: id, channelId: null })

    const dmLater = await dmOk(s, { ...w, now: w.now + 5 }, a, d, { conversationId: newId('conv_') })
    expect((await s.mail.conversationsFor(a.id)).map((x) => x.id)).toEqual([dmLater.conversation.id, id])

    const replies = []
    for (let i = 0; i < 3; i++) {
      replies.push((await s.mail.postConversation({
        workspaceId: w.ws.id, from: b, conversation: group, threadId: r.message.id, messageId: newId('msg_'), text: `reply ${i}`, mode: 'wait',
        attachments: [], now: w.now + i, ttlMs: TTL, maxInFlight: 1000,
      })).message)
    }
    expect(await peer.mail.replies(r.message.id, 10)).toEqual(replies)
    expect(await s.mail.replies(r.message.id, 2)).toEqual(replies.slice(0, 2))
    expect(await s.mail.replyCount(r.message.id)).toBe(3)
    expect(await s.mail.replyCount(replies[0].id)).toBe(0)
    // Thread replies stay out of the conversation's top-level page.
    expect((await s.mail.conversationMessages(id, 10)).map((m) => m.id)).toEqual([r.message.id])
  })

  it('message pages: newest page in chat order, `before` pages back, unknown `before` gives nothing, replies excluded', async () => {
    const { s } = get()
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const b = await agent(s, w.ws.id, 'b')
    const ch = await channel(s, w.ws.id, 'pages', [a, b])
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await post(s, w, a, ch, { text: `p${i}` })).message.id)
    await post(s, w, b, ch, { threadId: ids[0], text: 'reply' })
    expect((await s.mail.channelMessages(ch.id, 3)).map((m) => m.id)).toEqual(ids.slice(2))
    expect((await s.mail.channelMessages(ch.id, 3, ids[2])).map((m) => m.id)).toEqual(ids.slice(0, 2))
    expect(await s.mail.channelMessages(ch.id, 3, 'msg_unknown')).toEqual([])
    expect((await s.mail.channelMessages(ch.id, 50)).map((m) => m.text)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4'])

    const dms: string[] = []
    for (let i = 0; i < 4; i++) dms.push((await dmOk(s, w, i % 2 ? a : b, i % 2 ? b : a)).message.id)
    const conv = (await s.mail.conversationsFor(a.id))[0]
    expect((await s.mail.conversationMessages(conv.id, 2)).map((m) => m.id)).toEqual(dms.slice(2))
    expect((await s.mail.conversationMessages(conv.id, 10, dms[2])).map((m) => m.id)).toEqual(dms.slice(0, 2))
  })

  it('inbox: unread counts per channel (queued, delivered, failed) and per DM conversation with its newest unread message', async () => {
    const { s } = get()
    const w = await workspace(s)
    const [a, b, c] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b'), await agent(s, w.ws.id, 'c')]
    for (const x of [a, b, c]) await s.channels.join(w.general.id, x.id, w.now)
    const dev = await channel(s, w.ws.id, 'dev', [a, b])
    const g1 = await post(s, w, a, w.general)
    await post(s, w, c, w.general)
    const g3 = await post(s, w, a, w.general)
    const devPost = await post(s, w, a, dev)
    const forB = (r: { deliveries: DeliveryRow[] }) => r.deliveries.find((d) => d.agentId === b.id)!
    await s.mail.ackOne(forB(g1).id, w.now)
    await s.mail.failOne(forB(g3).id, w.now, 'x')
    await s.mail.markDelivered(forB(devPost).id, w.now)
    await dmOk(s, w, a, b, { text: 'a1' })
    await dmOk(s, w, a, b, { text: 'a2' })
    const fromC = await dmOk(s, w, c, b, { text: 'c1' })
    const inbox = await s.mail.inbox(b.id)
    expect(inbox.unreadChannels).toEqual([{ channelName: 'dev', unreadCount: 1 }, { channelName: 'general', unreadCount: 2 }])
    expect(inbox.unreadDms.map((x) => [x.fromName, x.unreadCount, x.lastMessage.text])).toEqual([['c', 1, 'c1'], ['a', 2, 'a2']])
    expect(inbox.unreadDms[0].conversationId).toBe(fromC.conversation.id)
    expect(inbox.unreadDms[0].lastMessage).toEqual(fromC.message)
    expect(await s.mail.inbox('agt_nobody')).toEqual({ unreadChannels: [], unreadDms: [] })
  })

  it('search finds messages by all of their words in any case, newest first, filters by channel/sender/viewer, and reads input as words only', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const [a, b, c, d] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b'), await agent(s, w.ws.id, 'c'), await agent(s, w.ws.id, 'd')]
    const dev = await channel(s, w.ws.id, 'dev', [a, b, c])
    const deploy = (await post(s, w, a, dev, { text: 'Deploy the build to staging, please.' })).message
    const green = (await post(s, w, b, w.general, { text: 'The BUILD is green' })).message
    const cologne = (await post(s, w, c, w.general, { text: 'Grüße aus Köln' })).message
    const secret = (await dmOk(s, w, a, b, { text: 'secret build plan' })).message
    const paths = (await post(s, w, a, dev, { text: 'see src/store_pg/mail.ts or mail ops@relay.dev, https://example.org/a-b?x=1 — v2.5 café' })).message
    await dmOk(s, w, c, d, { text: 'another secret' })
    const other = await workspace(s)
    const stranger = await agent(s, other.ws.id, 'x')
    await post(s, other, stranger, other.general, { text: 'build build build' })

    const q = (text: string, extra: Partial<Parameters<AsyncStore['mail']['search']>[0]> = {}) =>
      peer.mail.search({ workspaceId: w.ws.id, q: text, limit: 20, ...extra }).then((r) => r.map((m) => m.id))
    expect(await q('build')).toEqual([secret.id, green.id, deploy.id])
    expect(await q('BUILD green')).toEqual([green.id])
    expect(await q('staging deploy')).toEqual([deploy.id])
    expect(await q('build', { limit: 1 })).toEqual([secret.id])
    expect(await q('build', { channelId: dev.id })).toEqual([deploy.id])
    expect(await q('build', { fromId: b.id })).toEqual([green.id])
    expect(await q('build', { viewerId: c.id })).toEqual([green.id, deploy.id])
    expect(await q('secret', { viewerId: b.id })).toEqual([secret.id])
    expect(await q('mail ts')).toEqual([paths.id])
    expect(await q('store_pg')).toEqual([paths.id])
    expect(await q('store pg')).toEqual([paths.id])
    expect(await q('ops relay dev')).toEqual([paths.id])
    expect(await q('example org')).toEqual([paths.id])
    expect(await q('a-b')).toEqual([paths.id])
    expect(await q('v2 5')).toEqual([paths.id])
    expect(await q('CAFE')).toEqual([paths.id])
    expect(await q('Café')).toEqual([paths.id])
    expect(await q('koln')).toEqual([cologne.id])
    expect(await q('köln')).toEqual([cologne.id])
    expect(await q('Grüße')).toEqual([cologne.id])
    expect(await q('buil')).toEqual([])
    expect(await q('build nothing')).toEqual([])
    expect(await q('!!! ??? ...')).toEqual([])
    expect(await q('"build" OR * NEAR( -green :x & | !')).toEqual([])
    expect(await q("build') OR 1=1 --")).toEqual([])
    expect(await q('"build"*')).toEqual([secret.id, green.id, deploy.id])
    expect(await q('pg_store')).toEqual([])
    expect(await q('pg store')).toEqual([paths.id])
    expect((await s.mail.search({ workspaceId: w.ws.id, q: 'deploy', limit: 5 }))[0]).toEqual(deploy)
  })

  it('deliveriesFor / deliveriesAfter / delivery: status filters, seq cursor, limit, expiry only for live statuses, workspace scoping', async () => {
    const { s } = get()
    const w = await workspace(s)
    const a = await agent(s, w.ws.id, 'a')
    const e = await agent(s, w.ws.id, 'e')
    const rows = []
    for (let i = 0; i < 4; i++) rows.push((await dmOk(s, w, a, e)).delivery)
    await s.mail.markDelivered(rows[1].id, w.now)
    await s.mail.ackOne(rows[2].id, w.now)
    const f = (st: string[], limit = 10, now = w.now, after?: number) => s.mail.deliveriesFor(e.id, st, limit, now, after).then(seqs)
    expect(await f(['queued', 'delivered'])).toEqual([1, 2, 4])
    expect(await f(['queued', 'delivered'], 10, w.now, 1)).toEqual([2, 4])
    expect(await f(['queued', 'delivered'], 1)).toEqual([1])
    expect(await f(['acked'])).toEqual([3])
    expect(await f(['bogus'])).toEqual([])
    expect(await f(['queued'], 10, w.now + TTL)).toEqual([])
    expect(await f(['acked', 'queued'], 10, w.now + TTL)).toEqual([1, 3, 4])
    expect(seqs(await s.mail.deliveriesAfter(e.id, 1, 2))).toEqual([2, 3])
    expect(await s.mail.delivery(w.ws.id, rows[0].id)).toEqual(rows[0])
    expect(await s.mail.delivery('ws_other', rows[0].id)).toBeUndefined()
  })

  it('pendingMail: rows above max(cursor, afterSeq) with their message, sender, channel and conversation kind, in seq order, limited', async () => {
    const { s, peer } = get()
    const w = await workspace(s)
    const [a, b] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b')]
    const dev = await channel(s, w.ws.id, 'dev', [a, b])
    const first = await dmOk(s, w, a, b, { text: 'dm one', attachments: [{ n: 1 }] })
    const inChannel = await post(s, w, a, dev, { text: 'to dev', mode: 'steer' })
    const id = newId('conv_')
    const group: ConversationRow = { id, workspaceId: w.ws.id, kind: 'group', name: 'g', agentA: id, agentB: id, createdAt: w.now }
    await s.mail.createGroup(group, [a.id, b.id])
    await s.mail.postConversation({
      workspaceId: w.ws.id, from: a, conversation: group, messageId: newId('msg_'), text: 'to group', mode: 'wait', attachments: [],
      now: w.now, ttlMs: TTL, maxInFlight: 1000,
    })
    const items = await peer.mail.pendingMail(b.id, w.now, 0, false, 10)
    expect(items.map((i) => [i.delivery.seq, i.message.text, i.senderName, i.channelName, i.conversationKind])).toEqual([
      [1, 'dm one', 'a', null, 'dm'], [2, 'to dev', 'a', 'dev', null], [3, 'to group', 'a', null, 'group'],
    ])
    expect(items[0].message).toEqual(first.message)
    expect(items[0].delivery).toEqual(first.delivery)
    expect(items[1].message).toEqual(inChannel.message)
    expect(seqs((await s.mail.pendingMail(b.id, w.now, 1, false, 10)).map((i) => i.delivery))).toEqual([2, 3])
    expect(seqs((await s.mail.pendingMail(b.id, w.now, 0, false, 1)).map((i) => i.delivery))).toEqual([1])
    await s.mail.markDelivered(inChannel.deliveries[0].id, w.now)
    expect(seqs((await s.mail.pendingMail(b.id, w.now, 0, false, 10)).map((i) => i.delivery))).toEqual([1, 3])
    expect(seqs((await s.mail.pendingMail(b.id, w.now, 0, true, 10)).map((i) => i.delivery))).toEqual([1, 2, 3])
    await s.mail.ackUpTo(b.id, 2, w.now)
    expect(seqs((await s.mail.pendingMail(b.id, w.now, 0, true, 10)).map((i) => i.delivery))).toEqual([3])
    expect(await s.mail.pendingMail(b.id, w.now + TTL, 0, true, 10)).toEqual([])
    expect(await s.mail.pendingMail('agt_missing', w.now, 0, true, 10)).toEqual([])
  })

  it('commit (group commit): delivered marks, cumulative acks, then posts in order, each post isolated (mailbox_full, duplicate, failed)', async () => {
    const { s } = get()
    const w = await workspace(s)
    const [a, b, c] = [await agent(s, w.ws.id, 'a'), await agent(s, w.ws.id, 'b'), await agent(s, w.ws.id, 'c')]
    const dev = await channel(s, w.ws.id, 'dev', [a, b, c])
    const d1 = await dmOk(s, w, a, b)
    const d2 = await dmOk(s, w, a, b)
    await dmOk(s, w, a, c)
    const base = { workspaceId: w.ws.id, from: a, text: 'batched', mode: 'wait' as const, attachments: [], now: w.now, ttlMs: TTL, maxInFlight: 1000 }
    const dmTo = (to: AgentRow, over: Partial<PostDmInput> = {}) => ({ kind: 'dm' as const, ...base, to, conversationId: newId('conv_'), messageId: newId('msg_'), ...over })
    const ghost: AgentRow = { ...b, id: newId('agt_'), name: 'ghost' }
    const twice = newId('msg_')
    const full = dmTo(c, { maxInFlight: 1 })
    const result = await s.mail.commit({
      at: w.now + 1,
      delivered: [d1.delivery.id, d1.delivery.id, 'del_missing'],
      acks: [{ agentId: b.id, upToSeq: 1 }],
      posts: [
        dmTo(b, { text: 'first' }),
        { kind: 'channel', ...base, channel: dev, messageId: newId('msg_') },
        full,
        dmTo(b, { messageId: d2.message.id }),
        dmTo(ghost),
        dmTo(b, { messageId: twice, text: 'once' }),
        dmTo(b, { messageId: twice, text: 'twice' }),
        dmTo(b, { text: 'last' }),
      ],
    })
    expect(result.delivered).toEqual([true, false, false])
    expect(result.acks.map(seqs)).toEqual([[1]])
    expect(result.posts.map((p) => p.status)).toEqual(['posted', 'posted', 'mailbox_full', 'duplicate', 'failed', 'posted', 'duplicate', 'posted'])
    const posted = result.posts.flatMap((p) => (p.status === 'posted' ? [p] : []))
    expect(posted.map((p) => p.deliveries.map((d) => [d.agentId, d.seq]))).toEqual([
      [[b.id, 3]], [[b.id, 4], [c.id, 2]], [[b.id, 5]], [[b.id, 6]],
    ])
    expect(posted[0].conversation?.id).toBe(d1.conversation.id)
    expect(posted[1].conversation).toBeNull()
    expect(await s.mail.message(w.ws.id, full.messageId)).toBeUndefined()
    expect((await s.mail.message(w.ws.id, twice))?.text).toBe('once')
    expect(await allSeqs(s, b.id)).toEqual([1, 2, 3, 4, 5, 6])
    expect(await allSeqs(s, c.id)).toEqual([1, 2])
    expect((await s.mail.delivery(w.ws.id, d1.delivery.id))?.status).toBe('acked')
    expect((await s.agents.get(b.id))?.deliveryAckSeq).toBe(1)
    expect(await s.mail.commit({ at: w.now, delivered: [], acks: [], posts: [] })).toEqual({ delivered: [], acks: [], posts: [] })
  })

  it('concurrent group commits from both instances over the same agents in opposite orders all land, seqs gap-free', async () => {
    const h = get()
    const w = await workspace(h.s)
    const [x, y, z] = [await agent(h.s, w.ws.id, 'x'), await agent(h.s, w.ws.id, 'y'), await agent(h.s, w.ws.id, 'z')]
    const room = await channel(h.s, w.ws.id, 'room', [x, y, z])
    const base = { workspaceId: w.ws.id, text: 't', mode: 'wait' as const, attachments: [], now: w.now, ttlMs: TTL, maxInFlight: 1000 }
    const dmP = (from: AgentRow, to: AgentRow) => ({ kind: 'dm' as const, ...base, from, to, conversationId: newId('conv_'), messageId: newId('msg_') })
    // Started together: each batch's agents are locked up front in id order, whatever its posts' order.
    const batches = range(0, 19).map((i) => either(h, i).mail.commit({
      at: w.now, delivered: [], acks: [],
      posts: i % 2
        ? [dmP(z, x), dmP(z, y), { kind: 'channel' as const, ...base, from: z, channel: room, messageId: newId('msg_') }]
        : [dmP(z, y), dmP(z, x), { kind: 'channel' as const, ...base, from: x, channel: room, messageId: newId('msg_') }],
    }))
    const retriesBefore = h.retries()
    const results = await Promise.all(batches)
    expect(h.retries() - retriesBefore).toBe(0)
    expect(results.flatMap((r) => r.posts.map((p) => p.status)).every((st) => st === 'posted')).toBe(true)
    for (const m of [x, y, z]) {
      const got = await allSeqs(h.s, m.id)
      expect(got).toEqual(range(1, got.length))
    }
    expect((await allSeqs(h.s, x.id)).length).toBe(20 + 10)
  })

  it('invocations: insert is idempotent on the id (also raced from both instances), update is a compare-and-set on status, the queue queries', async () => {
    const h = get()
    const { s, peer } = h
    const w = await workspace(s)
    const target = node(w.ws.id, 'target')
    await s.nodes.insert(target)
    const base = (over: Partial<InvocationRow> = {}): InvocationRow => ({
      id: newId('inv_'), workspaceId: w.ws.id, actionName: 'spawn', capability: 'spawn:codex', callerId: null,
      input: { cli: 'codex', task: 'build', nested: { list: [1, 'two'], flag: false } }, requestHash: 'h1', status: 'pending',
      targetNodeId: null, dispatchedNodeId: null, attemptedNodeIds: [], dispatchAttempts: 0, reserved: false, retryAfterAt: null,
      dispatchedAt: null, output: null, error: null, createdAt: w.now, updatedAt: w.now, completedAt: null, ...over,
    })
    const row = base()
    expect(await s.invocations.insert(row)).toEqual({ row, created: true })
    expect(await peer.invocations.insert({ ...row, requestHash: 'h2', input: {} })).toEqual({ row, created: false })
    expect(await s.invocations.get(w.ws.id, row.id)).toEqual(row)
    expect(await s.invocations.get('ws_other', row.id)).toBeUndefined()

    const dispatched: InvocationRow = {
      ...row, status: 'dispatched', dispatchedNodeId: target.id, attemptedNodeIds: [target.id], dispatchAttempts: 1, reserved: true,
      dispatchedAt: w.now + 1, updatedAt: w.now + 1,
    }
    expect(await s.invocations.update(dispatched, 'pending')).toBe(true)
    expect(await peer.invocations.update({ ...dispatched, status: 'failed' }, 'pending')).toBe(false)
    expect(await s.invocations.byId(row.id)).toEqual(dispatched)
    expect((await s.invocations.openOnNode(target.id)).map((x) => x.id)).toEqual([row.id])
    const ids = (list: InvocationRow[]) => list.filter((r) => r.workspaceId === w.ws.id).map((r) => r.id)
    expect(ids(await s.invocations.dispatchedBefore(w.now + 2))).toEqual([row.id])
    expect(ids(await s.invocations.dispatchedBefore(w.now + 1))).toEqual([])

    const done: InvocationRow = { ...dispatched, status: 'completed', output: 'started', reserved: false, completedAt: w.now + 3, updatedAt: w.now + 3 }
    expect(await s.invocations.update(done, 'dispatched')).toBe(true)
    expect((await peer.invocations.byId(row.id))?.output).toBe('started')
    const withObject = { ...done, output: { agent: 'x', list: [1] } }
    expect(await s.invocations.update(withObject, 'completed')).toBe(true)
    expect((await s.invocations.byId(row.id))?.output).toEqual({ agent: 'x', list: [1] })

    const due = base({ createdAt: w.now + 1 })
    const later = base({ retryAfterAt: w.now + 1000, createdAt: w.now + 2 })
    const pinned = base({ targetNodeId: target.id, dispatchedNodeId: target.id, createdAt: w.now + 3 })
    for (const r of [due, later, pinned]) await s.invocations.insert(r)
    expect(ids(await s.invocations.duePending(w.now + 10))).toEqual([due.id, pinned.id])
    expect(ids(await s.invocations.duePending(w.now + 1000))).toEqual([due.id, later.id, pinned.id])
    expect((await s.invocations.pendingForNode(target.id)).map((x) => x.id)).toEqual([pinned.id])
    expect((await s.invocations.pendingUnpinned(w.ws.id)).map((x) => x.id)).toEqual([due.id, later.id])

    const racedId = newId('inv_idem_')
    const results = await Promise.all(range(1, 10).map((i) => either(h, i).invocations.insert(base({ id: racedId, requestHash: `h${i}` }))))
    expect(results.filter((r) => r.created)).toHaveLength(1)
    const winner = results.find((r) => r.created)!.row.requestHash
    expect(results.every((r) => r.row.requestHash === winner)).toBe(true)
  })
}

describe('store conformance: SQLite (through asyncStore)', () => {
  let dir: string
  const h = {} as Harness
  const closers: Array<() => void> = []
  beforeAll(() => {
    dir = tempDir('store-conformance')
    const a = openSqliteStore(dir)
    const b = openSqliteStore(dir)
    closers.push(() => a.close(), () => b.close())
    h.s = asyncStore(a)
    h.peer = asyncStore(b)
    h.retries = () => 0
  })
  afterAll(() => {
    for (const close of closers) close()
  })

  conformance(() => h)

  it('reopening runs no migration twice and keeps the data; after close calls reject', async () => {
    const w = await workspace(h.s)
    const again = asyncStore(openSqliteStore(dir))
    expect(await again.workspaces.get(w.ws.id)).toEqual(w.ws)
    await again.close()
    await expect(again.workspaces.get(w.ws.id)).rejects.toThrow(/not open/)
  })

  it('the adapter returns promises and turns a synchronous throw into a rejection', async () => {
    const store = openSqliteStore(tempDir('store-adapter'))
    const wrapped = asyncStore(store)
    const p = wrapped.mail.ackUpTo('agt_none', 1, 1)
    expect(p).toBeInstanceOf(Promise)
    await expect(wrapped.nodes.insert(node('ws_missing', 'n'))).rejects.toThrow(/FOREIGN KEY/)
    await expect(p).resolves.toEqual([])
    expect(await wrapped.mail.replyCount('msg_none')).toBe(0)
    await wrapped.close()
  })
})

const pgAvailability = postgresAvailability()
const pgNote = pgAvailability.ok ? '' : ` (skipped: ${pgAvailability.reason})`

describe.skipIf(!pgAvailability.ok)(`store conformance: PostgreSQL${pgNote}`, () => {
  let cluster: PostgresCluster | undefined
  let url: string
  const h = {} as Harness
  const stores: PgStore[] = []
  beforeAll(async () => {
    cluster = await usePostgres()
    url = await cluster.createDatabase({ prefix: 'conformance' })
    // Two engine instances on one database, each with a small pool (several connections each).
    const a = await openPgStore(url, { max: 6 })
    const b = await openPgStore(url, { max: 6 })
    stores.push(a, b)
    h.s = a
    h.peer = b
    h.retries = () => retryStats.retried
  }, 60_000)
  afterAll(async () => {
    for (const st of stores) await st.close()
    await cluster?.stop()
  }, 60_000)

  conformance(() => h)

  it('migrations: a second run applies nothing and leaves schema_migrations as it was', async () => {
    const pool = createPool(url)
    try {
      const before = (await pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows
      expect(before.map((r) => r.version)).toEqual(range(1, PG_MIGRATIONS.length))
      expect(await migratePg(pool)).toEqual({ applied: [], version: PG_MIGRATIONS.length })
      expect(await migratePg(pool)).toEqual({ applied: [], version: PG_MIGRATIONS.length })
      expect((await pool.query('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows).toEqual(before)
    } finally {
      await pool.end()
    }
  })

  it('migrations: four instances starting together on a fresh database apply each version exactly once', async () => {
    const fresh = await cluster!.createDatabase({ prefix: 'migrate_race' })
    const pools = range(1, 4).map(() => createPool(fresh, { max: 2 }))
    try {
      const results = await Promise.all(pools.map((p) => migratePg(p)))
      expect(results.flatMap((r) => r.applied).sort()).toEqual(range(1, PG_MIGRATIONS.length))
      expect(results.every((r) => r.version === PG_MIGRATIONS.length)).toBe(true)
      const rows = (await pools[0].query('SELECT version FROM schema_migrations ORDER BY version')).rows
      expect(rows.map((r) => r.version)).toEqual(range(1, PG_MIGRATIONS.length))
      // And the schema works: a store opened on it (migrating again) is usable.
      const store = await openPgStore(fresh, { max: 2 })
      expect(store.migration?.applied).toEqual([])
      const w = await workspace(store)
      expect(await store.workspaces.get(w.ws.id)).toEqual(w.ws)
      await store.close()
    } finally {
      await Promise.all(pools.map((p) => p.end()))
    }
  })

  it('schema: BIGINT epoch-ms times, JSONB documents, a generated tsvector with a GIN index the search can use', async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const col = async (table: string, column: string) =>
        (await client.query('SELECT data_type, is_generated FROM information_schema.columns WHERE table_name = $1 AND column_name = $2', [table, column])).rows[0]
      expect(await col('deliveries', 'expires_at')).toMatchObject({ data_type: 'bigint' })
      expect(await col('agents', 'delivery_seq')).toMatchObject({ data_type: 'bigint' })
      expect(await col('agents', 'metadata')).toMatchObject({ data_type: 'jsonb' })
      expect(await col('nodes', 'capabilities')).toMatchObject({ data_type: 'jsonb' })
      expect(await col('messages', 'search_vector')).toMatchObject({ data_type: 'tsvector', is_generated: 'ALWAYS' })
      const idx = (await client.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_search'")).rows[0]
      expect(idx.indexdef).toMatch(/USING gin \(search_vector\)/)
      await client.query('BEGIN')
      await client.query('SET LOCAL enable_seqscan = off')
      const plan = (await client.query(
        "EXPLAIN SELECT id FROM messages m WHERE m.search_vector @@ (phraseto_tsquery('relay_search', 'build') && phraseto_tsquery('relay_search', 'green')) AND m.workspace_id = 'w'",
      )).rows.map((r) => String(r['QUERY PLAN'])).join('\n')
      await client.query('ROLLBACK')
      expect(plan).toContain('messages_search')
    } finally {
      await client.end()
    }
  })
})
