/**
 * The live message feed: every message to or from this node's agents, with each
 * lifecycle step and its time. Steps arrive from two sides (the REST send and the
 * broker's delivery events) in any order, so a message's state is the furthest step
 * reached, not the latest one to arrive.
 */
import type { FeedMessage, MessageState } from '../../shared/ipc'

const RANK: Record<MessageState, number> = {
  sending: 0,
  sent: 1,
  received: 2,
  queued: 3,
  typed: 4,
  verified: 5,
  failed: 6,
  expired: 6,
  acked: 7,
}

export const FEED_LIMIT = 2000

export class FeedBook {
  private readonly messages = new Map<string, FeedMessage>()

  constructor(private readonly limit = FEED_LIMIT) {}

  /** Put back messages saved by an earlier run (oldest first). */
  load(messages: readonly FeedMessage[]): void {
    for (const m of messages) this.messages.set(m.id, { ...m, steps: [...m.steps] })
    this.trim()
  }

  list(): FeedMessage[] {
    return [...this.messages.values()]
  }

  get(id: string): FeedMessage | undefined {
    return this.messages.get(id)
  }

  /** Add a step to a message, creating it if needed; returns the updated message. */
  step(
    id: string,
    base: Pick<FeedMessage, 'from' | 'to' | 'text' | 'direction'>,
    state: MessageState,
    at: number,
    detail?: string,
  ): FeedMessage {
    let msg = this.messages.get(id)
    if (!msg) {
      msg = { id, ...base, state, steps: [] }
      this.messages.set(id, msg)
      this.trim()
    }
    // A redelivery repeats steps; keep the timeline readable by not repeating an identical one.
    const last = msg.steps[msg.steps.length - 1]
    if (!(last && last.state === state && last.detail === detail)) {
      msg.steps.push(detail === undefined ? { state, at } : { state, at, detail })
      msg.steps.sort((a, b) => a.at - b.at || RANK[a.state] - RANK[b.state])
    }
    if (RANK[state] >= RANK[msg.state]) msg.state = state
    if (state === 'failed' && detail) msg.error = detail
    if (state === 'acked') delete msg.error
    return msg
  }

  /** A locally-created message got its engine id: move its steps over. */
  rename(localId: string, engineId: string): FeedMessage | undefined {
    const local = this.messages.get(localId)
    if (!local) return this.messages.get(engineId)
    this.messages.delete(localId)
    const existing = this.messages.get(engineId)
    if (!existing) {
      local.id = engineId
      this.messages.set(engineId, local)
      return local
    }
    for (const s of local.steps) this.step(engineId, existing, s.state, s.at, s.detail)
    // The sender's view wins: a delivery seen first names one recipient, not the channel sent to.
    existing.direction = local.direction
    existing.from = local.from
    existing.to = local.to
    if (local.channel) existing.channel = local.channel
    return existing
  }

  remove(id: string): void {
    this.messages.delete(id)
  }

  private trim(): void {
    while (this.messages.size > this.limit) {
      const oldest = this.messages.keys().next().value as string
      this.messages.delete(oldest)
    }
  }
}
