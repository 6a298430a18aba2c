/**
 * What the engine reports about its own work, for whoever embeds it (benchmarks, tests,
 * a status view). Emitted after the fact and never awaited: a listener cannot slow or
 * change delivery, and with no listener an emit costs a map lookup.
 */
import { EventEmitter } from 'node:events'

export interface EngineEventMap {
  /**
   * Cumulative acks the engine has recorded (committed): one event per agent per
   * commit, `messageIds` the rows this ack moved to acked (ascending seq).
   */
  acked: [{ agentId: string; upToSeq: number; messageIds: string[] }]
  /** One group commit of the mailbox writer: how much it carried and how long it took. */
  committed: [{ posts: number; acks: number; delivered: number; ms: number }]
}

export class EngineEvents extends EventEmitter<EngineEventMap> {}
