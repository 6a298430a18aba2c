/**
 * Actions and placement (engine.md §4): `spawn` invocations are rows in
 * action_invocations (the database is the queue), placed on an explicit target node
 * or the least-loaded live node advertising `spawn:<cli>`, dispatched as
 * `action.invoke` frames and completed by `action.result`. A periodic sweep (on the
 * injected clock) reschedules timed-out dispatches with backoff, retries due pending
 * rows and expires never-dispatched ones.
 */
import { createHash } from 'node:crypto'
import { retryBackoffMs, type EngineConfig, type Logger } from '../context'
import { ApiError } from '../http/envelope'
import { newId } from '../ids'
import type { DeliveryRouter } from '../mailbox/router'
import type { NodeConnection } from '../node/connection'
import type { AsyncStore, InvocationRow, InvocationStatus, NodeRow } from '../store/types'
import { isNodeLive, iso } from '../views'

export interface InvokeRequest {
  workspaceId: string
  callerId: string | null
  actionName: string
  input: Record<string, unknown>
  /** Idempotency-Key header or an explicit invocation id. */
  idempotencyKey?: string
}

export interface InventoryEntry { agent_id: string; name: string; invocation_id?: string; session_ref?: string }

const canonical = (v: unknown): string => JSON.stringify(v, (_k, val: unknown) =>
  val && typeof val === 'object' && !Array.isArray(val)
    ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
    : val)

export async function invocationView(row: InvocationRow, nodeName: (id: string | null) => Promise<string | null>): Promise<Record<string, unknown>> {
  return {
    invocation_id: row.id,
    id: row.id,
    action_name: row.actionName,
    capability: row.capability,
    handler_agent_id: null,
    handler_node_id: row.targetNodeId,
    handler_node: await nodeName(row.targetNodeId),
    dispatched_node_id: row.dispatchedNodeId,
    dispatched_node: await nodeName(row.dispatchedNodeId),
    input: row.input,
    status: row.status,
    attempts: row.dispatchAttempts,
    retry_after_at: row.retryAfterAt === null ? null : iso(row.retryAfterAt),
    output: row.output ?? null,
    error: row.error,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
    completed_at: row.completedAt === null ? null : iso(row.completedAt),
  }
}

export class ActionService {
  constructor(
    private readonly store: AsyncStore,
    private readonly router: DeliveryRouter,
    private readonly config: EngineConfig,
    private readonly log: Logger,
  ) {
    router.bus.subscribe((e) => {
      if (e.k !== 'invoke') return
      const conn = this.router.connection(e.node)
      if (!conn) return
      this.sendInvoke(conn, e.invocation, e.node).catch((err: unknown) => this.log('error', 'action dispatch failed', { invocation_id: e.invocation, error: String(err) }))
    })
  }

  private now(): number {
    return this.config.now()
  }

  /** Capability of a spawn: `input.capability ?? input.cli`, normalised to `spawn:<x>`. */
  static capabilityOf(actionName: string, input: Record<string, unknown>): string {
    if (actionName.startsWith('spawn:')) return actionName
    const raw = input.capability ?? input.cli
    if (typeof raw !== 'string' || raw.trim() === '') throw new ApiError(400, 'invalid_request', 'input.cli: required for spawn')
    return raw.startsWith('spawn:') ? raw : `spawn:${raw.trim()}`
  }

  /**
   * Live with handlers, and its socket registered here — or, in a cluster, held by another
   * instance (the node row is online and heartbeating; that instance writes the frame).
   */
  private dispatchable(node: NodeRow, now: number): boolean {
    const conn = this.router.connection(node.id)
    const reachable = conn ? conn.registered : this.router.bus.clustered
    return reachable && isNodeLive(node, now) && node.handlersLive
  }

  private hasRoom(node: NodeRow): boolean {
    return node.maxAgents === 0 || node.activeAgents + node.reservedAgents < node.maxAgents
  }

  /** Least-loaded live node with the capability and room, reserved atomically. */
  private async claimNode(workspaceId: string, capability: string, exclude: string[]): Promise<NodeRow | undefined> {
    const now = this.now()
    const eligible = (await this.store.nodes.list(workspaceId))
      .filter((n) => n.capabilities.some((c) => c.name === capability) && this.dispatchable(n, now) && this.hasRoom(n))
      .sort((a, b) => {
        const la = a.load ?? Number.POSITIVE_INFINITY
        const lb = b.load ?? Number.POSITIVE_INFINITY
        return la - lb || a.activeAgents + a.reservedAgents - (b.activeAgents + b.reservedAgents) || a.name.localeCompare(b.name)
      })
    const ordered = [...eligible.filter((n) => !exclude.includes(n.id)), ...eligible.filter((n) => exclude.includes(n.id))]
    for (const node of ordered) if (await this.store.nodes.reserve(node.id)) return node
    return undefined
  }

  async invoke(req: InvokeRequest): Promise<{ row: InvocationRow; created: boolean }> {
    const now = this.now()
    const capability = ActionService.capabilityOf(req.actionName, req.input)
    const requestHash = createHash('sha256').update(canonical({ a: req.actionName, i: req.input })).digest('hex')
    const id = req.idempotencyKey
      ? 'inv_idem_' + createHash('sha256').update(`${req.workspaceId}\0${req.callerId ?? ''}\0${req.actionName}\0${req.idempotencyKey}`).digest('hex').slice(0, 40)
      : newId('inv_')
    if (req.idempotencyKey) {
      const existing = await this.store.invocations.byId(id)
      if (existing) {
        if (existing.requestHash !== requestHash) throw new ApiError(409, 'idempotency_key_reused', 'this idempotency key was used with a different request')
        return { row: existing, created: false }
      }
    }
    // Explicit target: validate before anything is written.
    const targetName = [req.input.target_node, req.input.node, req.input.target].find((v) => typeof v === 'string' && v !== '') as string | undefined
    let target: NodeRow | undefined
    if (targetName) {
      target = await this.store.nodes.byName(req.workspaceId, targetName)
      if (!target) throw new ApiError(404, 'node_not_found', `node "${targetName}" not found`)
      if (!target.capabilities.some((c) => c.name === capability)) {
        throw new ApiError(409, 'capability_mismatch', `node "${targetName}" does not provide ${capability}`)
      }
      if (this.dispatchable(target, now) && !this.hasRoom(target)) {
        throw new ApiError(503, 'handler_unavailable', `node "${targetName}" is at capacity`)
      }
    }
    let node: NodeRow | undefined
    if (target) {
      if (this.dispatchable(target, now)) {
        if (!await this.store.nodes.reserve(target.id)) throw new ApiError(503, 'handler_unavailable', `node "${target.name}" is at capacity`)
        node = target
      }
      // Offline or handlers not live: accepted as queued, no reservation.
    } else {
      node = await this.claimNode(req.workspaceId, capability, [])
      if (!node) throw new ApiError(503, 'handler_unavailable', `No live node provides ${capability}`)
    }
    const row: InvocationRow = {
      id, workspaceId: req.workspaceId, actionName: req.actionName, capability, callerId: req.callerId, input: req.input, requestHash,
      status: 'pending', targetNodeId: target?.id ?? null, dispatchedNodeId: node?.id ?? target?.id ?? null, attemptedNodeIds: [],
      dispatchAttempts: 0, reserved: !!node, retryAfterAt: null, dispatchedAt: null, output: null, error: null,
      createdAt: now, updatedAt: now, completedAt: null,
    }
    const inserted = await this.store.invocations.insert(row)
    if (!inserted.created) {
      // Lost a race on the same idempotency key: give the reservation back.
      if (node) await this.store.nodes.release(node.id)
      if (inserted.row.requestHash !== requestHash) throw new ApiError(409, 'idempotency_key_reused', 'this idempotency key was used with a different request')
      return inserted
    }
    if (node) await this.dispatch(row, node)
    return { row: (await this.store.invocations.byId(id)) ?? row, created: true }
  }

  /** Marks the row dispatched and writes `action.invoke` on the node's chain. */
  private async dispatch(row: InvocationRow, node: NodeRow): Promise<void> {
    const conn = this.router.connection(node.id)
    const now = this.now()
    const next: InvocationRow = {
      ...row, status: 'dispatched', dispatchedNodeId: node.id, dispatchedAt: now, reserved: true, retryAfterAt: null,
      dispatchAttempts: row.dispatchAttempts + 1,
      attemptedNodeIds: row.attemptedNodeIds.includes(node.id) ? row.attemptedNodeIds : [...row.attemptedNodeIds, node.id],
      updatedAt: now,
    }
    if ((!conn && !this.router.bus.clustered) || !await this.store.invocations.update(next, row.status)) {
      await this.store.nodes.release(node.id)
      return
    }
    // Not here: the instance holding the node's socket writes it (no one: the dispatch timeout reschedules).
    if (conn) await this.sendInvoke(conn, row.id, node.id)
    else this.router.bus.publish({ k: 'invoke', node: node.id, invocation: row.id })
    this.log('info', 'action dispatched', { invocation_id: row.id, node_id: node.id, attempt: next.dispatchAttempts, here: !!conn })
  }

  /** Writes `action.invoke` for a row dispatched to this socket's node, on the node's chain. */
  private async sendInvoke(conn: NodeConnection, invocationId: string, nodeId: string): Promise<void> {
    const row = await this.store.invocations.byId(invocationId)
    if (!row || row.status !== 'dispatched' || row.dispatchedNodeId !== nodeId) return
    const frame = { type: 'action.invoke', v: 1, invocation_id: row.id, action: row.capability, input: row.input }
    void conn.serialize(async () => {
      if (await conn.send(frame)) return
      // The write failed: back to the queue, retry soon.
      const cur = await this.store.invocations.byId(row.id)
      if (cur?.status === 'dispatched' && cur.dispatchedNodeId === nodeId) await this.reschedule(cur, 'dispatch_failed')
    })
  }

  /** Release capacity and put the row back to pending with backoff (or immediately). */
  private async reschedule(row: InvocationRow, why: string, immediate = false): Promise<void> {
    const now = this.now()
    if (row.reserved && row.dispatchedNodeId) await this.store.nodes.release(row.dispatchedNodeId)
    const next: InvocationRow = {
      ...row, status: 'pending', reserved: false, dispatchedAt: null,
      dispatchedNodeId: row.targetNodeId, retryAfterAt: immediate ? now : now + retryBackoffMs(Math.max(1, row.dispatchAttempts)),
      error: why, updatedAt: now,
    }
    if (await this.store.invocations.update(next, row.status)) this.log('info', 'action rescheduled', { invocation_id: row.id, why, retry_after_at: next.retryAfterAt })
  }

  private async finish(row: InvocationRow, status: InvocationStatus, output: unknown, error: string | null): Promise<boolean> {
    const now = this.now()
    const next: InvocationRow = { ...row, status, output: output ?? null, error, reserved: false, completedAt: now, updatedAt: now, retryAfterAt: null }
    if (!await this.store.invocations.update(next, row.status)) return false
    if (row.reserved && row.dispatchedNodeId) await this.store.nodes.release(row.dispatchedNodeId)
    this.log('info', `action ${status}`, { invocation_id: row.id })
    return true
  }

  /** Try to place one pending row now. */
  private async attempt(row: InvocationRow): Promise<void> {
    const now = this.now()
    if (row.targetNodeId) {
      const node = await this.store.nodes.get(row.targetNodeId)
      if (!node || !this.dispatchable(node, now)) return
      if (!await this.store.nodes.reserve(node.id)) {
        await this.store.invocations.update({ ...row, retryAfterAt: now + retryBackoffMs(1), updatedAt: now }, 'pending')
        return
      }
      await this.dispatch(row, node)
      return
    }
    const node = await this.claimNode(row.workspaceId, row.capability, row.attemptedNodeIds)
    if (node) await this.dispatch(row, node)
    else await this.store.invocations.update({ ...row, retryAfterAt: now + retryBackoffMs(Math.max(1, row.dispatchAttempts)), updatedAt: now }, 'pending')
  }

  /** After node.register / a newly-dispatchable heartbeat: send what waits for this node. */
  async drainNode(nodeId: string): Promise<void> {
    const node = await this.store.nodes.get(nodeId)
    if (!node) return
    for (const row of await this.store.invocations.pendingForNode(nodeId)) await this.attempt(row)
    for (const row of await this.store.invocations.pendingUnpinned(node.workspaceId)) {
      if (node.capabilities.some((c) => c.name === row.capability)) await this.attempt(row)
    }
  }

  async onResult(conn: NodeConnection, invocationId: string, result: { output: unknown } | { error: string }): Promise<void> {
    const row = await this.store.invocations.byId(invocationId)
    if (!row || row.workspaceId !== conn.workspaceId || row.status !== 'dispatched' || row.dispatchedNodeId !== conn.nodeId) {
      this.log('warn', 'action.result for an invocation not dispatched to this node ignored', { node_id: conn.nodeId, invocation_id: invocationId })
      return
    }
    if ('error' in result) {
      if (result.error === 'handler_unavailable') {
        await this.store.nodes.setHandlersLive(conn.nodeId, false)
        await this.reschedule(row, 'handler_unavailable', true)
        const cur = await this.store.invocations.byId(row.id)
        if (cur?.status === 'pending') await this.attempt(cur)
        return
      }
      await this.finish(row, 'failed', null, result.error)
      return
    }
    await this.finish(row, 'completed', result.output, null)
  }

  /** Node lost (socket closed, deregister, liveness sweep): its open invocations go elsewhere. */
  async nodeLost(nodeId: string): Promise<void> {
    for (const row of await this.store.invocations.openOnNode(nodeId)) {
      await this.reschedule(row, 'node_lost', true)
      const cur = await this.store.invocations.byId(row.id)
      if (cur?.status === 'pending') await this.attempt(cur)
    }
  }

  /** inventory.sync: complete the spawns the node reports, reschedule older ones it does not. */
  async reconcile(conn: NodeConnection, agents: InventoryEntry[]): Promise<{ open: string[]; completed: string[]; rescheduled: string[] }> {
    const reported = new Map(agents.filter((a) => a.invocation_id).map((a) => [a.invocation_id as string, a]))
    const out = { open: [] as string[], completed: [] as string[], rescheduled: [] as string[] }
    for (const row of await this.store.invocations.openOnNode(conn.nodeId)) {
      const entry = reported.get(row.id)
      if (entry) {
        if (await this.finish(row, 'completed', { agent_id: entry.agent_id, name: entry.name, invocation_id: row.id, session_ref: entry.session_ref ?? null }, null)) {
          out.completed.push(row.id)
        }
      } else if ((row.dispatchedAt ?? 0) < conn.registeredAt) {
        // Dispatched to an earlier connection and not running now: lost with it.
        await this.reschedule(row, 'missing_from_inventory', true)
        out.rescheduled.push(row.id)
      } else {
        out.open.push(row.id)
      }
    }
    return out
  }

  /** Periodic: dispatch timeouts, due retries, expiry of never-dispatched rows. */
  async sweep(): Promise<void> {
    const now = this.now()
    for (const row of await this.store.invocations.dispatchedBefore(now - this.config.dispatchTimeoutMs)) await this.reschedule(row, 'dispatch_timeout')
    for (const row of await this.store.invocations.duePending(now)) {
      if (now - row.createdAt > this.config.invocationMaxAgeMs) {
        await this.finish(row, 'failed', null, 'never_dispatched_expired')
        continue
      }
      await this.attempt(row)
    }
  }
}
