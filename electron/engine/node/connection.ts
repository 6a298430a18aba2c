/**
 * One node control socket. Owns the per-node promise chain that serializes
 * frame handling and outbound mail, so a replay and a fresh delivery can never
 * interleave and reorder seqs.
 */
import type { Socket } from 'node:net'
import { WebSocket } from 'ws'
import type { Logger } from '../context'
import { newId } from '../ids'

export class NodeConnection {
  readonly connId = newId('conn_')
  /** True once node.register has been accepted on this socket. */
  registered = false
  /** When node.register was accepted (engine clock). */
  registeredAt = 0
  /** Node advertised relay:delivery-cursor-v1: mail is gated per agent. */
  cursorAware = false
  /** Cursor-aware only: agents whose register reply (with the cursor) was written. */
  readonly readyAgents = new Set<string>()
  /** Agents (by name) this legacy broker acked above 0 on this socket: it holds a cursor for them. */
  readonly cursorShown = new Set<string>()
  /**
   * Per agent, the highest seq written on this socket in order, from a read of the store
   * that covered everything pending below it: mail committed right after can go out from
   * memory when it starts at the next seq. Absent = unknown, read the store.
   */
  readonly sentThrough = new Map<string, number>()
  private chain: Promise<void> = Promise.resolve()

  constructor(
    readonly nodeId: string,
    readonly workspaceId: string,
    private readonly ws: WebSocket,
    private readonly log: Logger,
  ) {}

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  /** May mail for this agent go out on this socket right now? */
  canDeliverTo(agentId: string): boolean {
    return this.open && this.registered && (!this.cursorAware || this.readyAgents.has(agentId))
  }

  /** Resolves true once the frame was handed to the socket without error. */
  send(frame: object): Promise<boolean> {
    if (!this.open) return Promise.resolve(false)
    return new Promise((resolve) => {
      try {
        this.ws.send(JSON.stringify(frame), (err) => resolve(!err))
      } catch {
        resolve(false)
      }
    })
  }

  /**
   * Writes a frame now; `done` learns whether the write succeeded. False (and no `done`)
   * if the socket is not open. Frames keep their order on the socket.
   */
  write(frame: object, done?: (ok: boolean) => void): boolean {
    if (!this.open) return false
    try {
      this.ws.send(JSON.stringify(frame), done && ((err) => done(!err)))
      return true
    } catch {
      return false
    }
  }

  /**
   * Runs `fn` with the TCP socket corked, so the frames it writes leave in one write
   * (one syscall for a batch instead of one per frame). ws keeps its socket private; when
   * it is not reachable the frames simply go out one by one.
   */
  corked<T>(fn: () => T): T {
    const socket = (this.ws as unknown as { _socket?: Socket })._socket
    if (!socket || typeof socket.cork !== 'function') return fn()
    socket.cork()
    try {
      return fn()
    } finally {
      socket.uncork()
    }
  }

  /**
   * Backpressure: resolves at once while no more than `bytes` wait to be flushed, else when
   * the socket has drained (or closed).
   */
  whenFlushedAbove(bytes: number): Promise<void> {
    const socket = (this.ws as unknown as { _socket?: Socket })._socket
    if (!this.open || this.ws.bufferedAmount <= bytes || !socket || !socket.writableNeedDrain) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done)
        socket.off('close', done)
        resolve()
      }
      socket.once('drain', done)
      socket.once('close', done)
    })
  }

  /** Forget what was written for an agent (it left this node, or its mail must be re-read). */
  forget(agentId?: string): void {
    if (agentId === undefined) this.sentThrough.clear()
    else this.sentThrough.delete(agentId)
  }

  /** Queue work behind everything already running for this node. Never rejects. */
  serialize(work: () => Promise<void> | void): Promise<void> {
    const next = this.chain.then(work).catch((err: unknown) => {
      this.log('error', 'node operation failed', { node_id: this.nodeId, error: String(err) })
    })
    this.chain = next
    return next
  }

  close(reason: string, code = 1000): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason.slice(0, 120))
    }
  }

  /** Hard stop for shutdown paths where the peer may never answer the close handshake. */
  terminate(): void {
    this.ws.terminate()
  }
}
