import type { DeliveryRow } from '../store/types'

/**
 * What engine instances sharing one database tell each other. Every instance acts on the
 * sockets it holds itself; an event asks the others to do the same for theirs. One
 * instance alone (the embedded engine on SQLite) has no one to tell: `soloBus`.
 *
 * Events are hints that make things happen at once; none is the only way a thing happens.
 * Mail is durable before it is announced, and every instance's re-drive sweep sends what a
 * lost event would have (at most one sweep interval later).
 */
export type ClusterEvent =
  /** New or re-queued mail for these agents: send it if their node's socket is here. */
  | { k: 'mail'; agents: string[] }
  /** Resend these agents' unacked mail from their ack cursor (a rebind). */
  | { k: 'replay'; agents: string[] }
  /** Rows of this agent went back to queued: resend every queued row. */
  | { k: 'requeued'; agent: string }
  /** The node registered `socket` on the sender: a socket for it held here is stale unless it registered later. */
  | { k: 'node.attached'; node: string; socket: string }
  /** A message will never reach `recipient`: tell its sender (node socket, user clients). */
  | { k: 'dead'; workspace: string; message: string; recipient: string; reason: 'ttl_expired' | 'depth_cap' }
  /** The agent's token was rotated or revoked: close its user sockets. */
  | { k: 'agent.closed'; agent: string; reason: string }
  /** An invocation was dispatched to a node whose socket is not on the sender: write action.invoke if it is here. */
  | { k: 'invoke'; node: string; invocation: string }
  /** Delivery rows changed state; their senders' user clients here get delivery.updated. */
  | { k: 'updated'; rows: DeliveryRow[] }
  /** The sender's set of user clients changed (re-read who is connected where). */
  | { k: 'users' }
  /**
   * Local only, never sent: this instance was deaf for a while (its listener connection
   * dropped and came back) — whatever was announced meanwhile must be looked up.
   */
  | { k: 'resync' }

/** Human clients another instance holds for one agent. */
export interface RemoteUser {
  agentId: string
  connections: number
  connectedAt: number
}

export interface ClusterBus {
  /** This instance's id (fresh per process). */
  readonly instanceId: string
  /** Other instances may hold sockets: a live node without a socket here may be connected elsewhere. */
  readonly clustered: boolean
  /** Tells the other instances; returns at once (delivery is best effort, see above). */
  publish(event: ClusterEvent): void
  /** Events from the other instances (never this one's own). */
  subscribe(handler: (event: ClusterEvent) => void): void
  /** True while this instance should run the cluster-wide sweeps (expiry, liveness, invocations). */
  isLeader(): boolean
  /** This instance now holds `connections` (0: none) user sockets of the agent. */
  userSockets(agentId: string, workspaceId: string, connections: number, connectedAt: number): void
  /** User clients the other live instances hold in a workspace. */
  remoteUsers(workspaceId: string): Promise<RemoteUser[]>
  /** Agents with a user client on another instance (refreshed on every change and every few seconds). */
  remoteUserIds(): ReadonlySet<string>
  close(): Promise<void>
}

/** One instance, nobody to tell; it is always the leader. */
export function soloBus(instanceId: string): ClusterBus {
  return {
    instanceId,
    clustered: false,
    publish: () => undefined,
    subscribe: () => undefined,
    isLeader: () => true,
    userSockets: () => undefined,
    remoteUsers: async () => [],
    remoteUserIds: () => new Set(),
    close: async () => undefined,
  }
}
