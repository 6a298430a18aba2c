/**
 * One node control socket. Owns the per-node promise chain that serializes
 * frame handling and outbound mail, so a replay and a fresh delivery can never
 * interleave and reorder seqs.
 */
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
