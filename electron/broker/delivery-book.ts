/**
 * Per-agent delivery cursor and msg-id dedup (node-protocol.md §4.1–§4.5).
 *
 * The engine delivers at-least-once with a per-agent seq; the book decides, for
 * each frame, whether to type it, or only re-ack. Unlike v5, the cursor can be
 * seeded (from the engine's delivery_ack_seq, or a persisted file) so a restarted
 * broker neither re-types an acked message nor treats the next one as a gap.
 */

export const SEEN_CAPACITY = 512

export type Decision =
  | { kind: 'deliver'; seq: number }
  | { kind: 'duplicate'; cursor: number }
  | { kind: 'stale'; cursor: number }
  | { kind: 'gap'; cursor: number }

/** Bounded FIFO set: re-inserting an existing id does not refresh it. */
export class SeenIds {
  private readonly ids = new Set<string>()
  constructor(private readonly capacity = SEEN_CAPACITY) {}
  has(id: string): boolean {
    return this.ids.has(id)
  }
  add(id: string): void {
    if (this.ids.has(id)) return
    this.ids.add(id)
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value as string
      this.ids.delete(oldest)
    }
  }
  get size(): number {
    return this.ids.size
  }
}

interface AgentBook {
  /** Highest seq acked to the engine (everything ≤ it was typed). */
  acked: number | undefined
  /** Highest seq accepted for injection: typed, or waiting in the agent's queue. */
  accepted: number | undefined
  seen: SeenIds
  pending: Set<string>
  /** Identity confirmed by agent.register with no known cursor: adopt the first seq seen (§8 #35). */
  adopt: boolean
  /** The seq adopted, until it is committed (a failed injection re-arms the adoption). */
  adopted: number | undefined
}

export class DeliveryBook {
  private readonly agents = new Map<string, AgentBook>()

  private book(agent: string): AgentBook {
    let b = this.agents.get(agent)
    if (!b) {
      b = { acked: undefined, accepted: undefined, seen: new SeenIds(), pending: new Set(), adopt: false, adopted: undefined }
      this.agents.set(agent, b)
    }
    return b
  }

  cursor(agent: string): number | undefined {
    return this.agents.get(agent)?.acked
  }

  /** Seed the cursor (engine's delivery_ack_seq on register, or a persisted value). Never lowers it. */
  seed(agent: string, ackedUpTo: number): void {
    const b = this.book(agent)
    if (b.acked === undefined || ackedUpTo > b.acked) b.acked = ackedUpTo
    if (b.accepted === undefined || b.acked > b.accepted) b.accepted = b.acked
  }

  /**
   * The engine confirmed this agent (agent.register) but told us no cursor and we have
   * none persisted: the first sequenced frame starts the cursor, whatever its seq. v5
   * treated it as a gap and acked it at 0 without typing it — the message was lost.
   */
  adoptNext(agent: string): void {
    const b = this.book(agent)
    if (b.acked === undefined) b.adopt = true
  }

  /**
   * Decide what to do with a frame (§4.2). A `deliver` decision also reserves the seq,
   * so the next frame, arriving while this one is still queued for typing, is in order
   * rather than a gap.
   */
  accept(agent: string, seq: number, msgId: string): Decision {
    const b = this.book(agent)
    const acked = b.acked ?? 0
    const known = b.seen.has(msgId) || b.pending.has(msgId)
    if (seq === 0) {
      if (known) return { kind: 'duplicate', cursor: acked }
      b.pending.add(msgId)
      return { kind: 'deliver', seq: 0 }
    }
    if (known) return { kind: 'duplicate', cursor: acked }
    if (b.accepted === undefined) {
      if (b.adopt) {
        b.adopt = false
        b.adopted = seq
        b.acked = seq - 1
      } else if (seq !== 1) return { kind: 'gap', cursor: 0 }
    } else {
      if (seq <= b.accepted) return { kind: 'stale', cursor: acked }
      if (seq !== b.accepted + 1) return { kind: 'gap', cursor: acked }
    }
    b.accepted = seq
    b.pending.add(msgId)
    return { kind: 'deliver', seq }
  }

  /** The injection was written: remember the id and move the ack cursor. Returns the cursor to ack. */
  commit(agent: string, seq: number, msgId: string): number {
    const b = this.book(agent)
    b.pending.delete(msgId)
    b.seen.add(msgId)
    if (seq !== 0 && seq === (b.acked ?? 0) + 1) {
      b.acked = seq
      b.adopted = undefined
    }
    return b.acked ?? 0
  }

  /**
   * The injection failed: withhold the ack and un-reserve this seq and every later one
   * still queued, so the engine's redelivery is accepted again in order.
   */
  release(agent: string, seq: number, msgId: string): void {
    const b = this.agents.get(agent)
    if (!b) return
    b.pending.delete(msgId)
    if (seq !== 0) {
      b.accepted = b.acked
      b.pending.clear()
      // An adopted start that was never typed is adopted again on redelivery.
      if (b.adopted !== undefined) {
        b.acked = undefined
        b.accepted = undefined
        b.adopted = undefined
        b.adopt = true
      }
    }
  }

  forget(agent: string): void {
    this.agents.delete(agent)
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [name, b] of this.agents) if (b.acked !== undefined) out[name] = b.acked
    return out
  }
}
