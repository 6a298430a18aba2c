/**
 * Pure bookkeeping for the feed: messages keyed by id, ordered by the time of their first
 * step, capped so a long-running window does not grow without bound.
 */
import type { FeedMessage } from '../../../shared/ipc'

export interface FeedState {
  byId: Record<string, FeedMessage>
  /** Ids, oldest first. */
  order: string[]
  /**
   * The sort key each id was inserted with; kept so later updates never reorder a message.
   * A Map: copying a 2000-key object on every merge cost ~1 ms more than copying a Map.
   */
  sortKey: ReadonlyMap<string, number>
}

export const emptyFeed: FeedState = { byId: {}, order: [], sortKey: new Map() }

export function mergeMessages(state: FeedState, incoming: FeedMessage[], cap: number, now: number): FeedState {
  if (incoming.length === 0) return state
  const byId = { ...state.byId }
  let sortKey = state.sortKey as Map<string, number>
  let keysCopied = false
  const keys = () => {
    if (!keysCopied) {
      sortKey = new Map(sortKey)
      keysCopied = true
    }
    return sortKey
  }
  let order = state.order
  let orderCopied = false
  for (const message of incoming) {
    const existing = byId[message.id]
    const merged = existing ? mergeCopy(existing, message) : message
    if (merged === existing) continue
    byId[message.id] = merged
    // The host names the local placeholder this message takes over (`replaces`).
    const placeholder = message.replaces && message.replaces !== message.id && byId[message.replaces] ? message.replaces : undefined
    if ((placeholder !== undefined || !existing) && !orderCopied) {
      order = order.slice()
      orderCopied = true
    }
    if (placeholder !== undefined) {
      order.splice(order.indexOf(placeholder), 1)
      delete byId[placeholder]
      keys().delete(placeholder)
    }
    if (existing) continue
    const key = message.steps[0]?.at ?? now
    keys().set(message.id, key)
    order.splice(upperBound(order, sortKey, key), 0, message.id)
  }
  if (order.length > cap) {
    const evicted = order.slice(0, order.length - cap)
    order = order.slice(order.length - cap)
    const k = keys()
    for (const id of evicted) {
      delete byId[id]
      k.delete(id)
    }
  }
  return { byId, order, sortKey }
}

const FINAL_STATES = new Set(['failed', 'expired'])

/**
 * Steps only ever get appended, so a copy with fewer steps is older (e.g. the
 * `messages.send` result arriving after a newer `message.changed` event) and is ignored.
 * Except a failure: the host reports a failed send without its steps, and it must show;
 * the timeline seen so far is kept with it.
 */
function mergeCopy(existing: FeedMessage, incoming: FeedMessage): FeedMessage {
  if (incoming.steps.length >= existing.steps.length) return incoming
  if (FINAL_STATES.has(incoming.state)) return { ...incoming, steps: existing.steps }
  return existing
}

/** First index whose key is greater than `key`, so equal keys keep arrival order. */
function upperBound(order: string[], sortKey: ReadonlyMap<string, number>, key: number): number {
  // Live traffic lands at the end: check there before searching.
  const n = order.length
  if (n === 0 || (sortKey.get(order[n - 1]) as number) <= key) return n
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((sortKey.get(order[mid]) as number) <= key) lo = mid + 1
    else hi = mid
  }
  return lo
}
