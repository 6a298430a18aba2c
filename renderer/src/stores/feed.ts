import { create } from 'zustand'
import type { FeedMessage } from '../../../shared/ipc'
import { emptyFeed, mergeMessages, type FeedState } from './feed-order'

/** Enough history for a working session; older messages stay in the engine. */
export const FEED_CAP = 2000

interface FeedStore extends FeedState {
  upsert(messages: FeedMessage[]): void
}

export const useFeedStore = create<FeedStore>()((set) => ({
  ...emptyFeed,
  upsert: (messages) =>
    set((s) => mergeMessages({ byId: s.byId, order: s.order, sortKey: s.sortKey }, messages, FEED_CAP, Date.now())),
}))
