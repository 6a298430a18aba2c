import { useMemo, useState } from 'react'
import { useAgentsStore, useFeedStore, useUiStore } from '../../stores'
import { FeedFilters } from './FeedFilters'
import { FeedItem } from './FeedItem'

/** Rows rendered at once; older matches are one click away. Keeps a busy feed cheap to draw. */
export const FEED_PAGE = 150

export function MessageFeed() {
  const [shown, setShown] = useState(FEED_PAGE)
  const byId = useFeedStore((s) => s.byId)
  const order = useFeedStore((s) => s.order)
  const agentsByName = useAgentsStore((s) => s.byName)
  const feedAgent = useUiStore((s) => s.feedAgent)
  const feedState = useUiStore((s) => s.feedState)
  const feedChannel = useUiStore((s) => s.feedChannel)

  // Filter choices: this node's agents plus anyone seen in the feed (remote agents, the user).
  const choices = useMemo(() => {
    const names = new Set(Object.keys(agentsByName))
    const chans = new Set<string>()
    for (const a of Object.values(agentsByName)) for (const c of a.channels ?? []) chans.add(`#${c}`)
    for (const id of order) {
      const m = byId[id]
      names.add(m.from)
      if (m.channel) chans.add(m.channel)
      else names.add(m.to)
    }
    return { agents: [...names].sort(), channels: [...chans].sort() }
  }, [agentsByName, order, byId])

  // Newest first, so live traffic shows without scrolling.
  const visible = useMemo(() => {
    const out = []
    for (let i = order.length - 1; i >= 0; i--) {
      const m = byId[order[i]]
      if (feedAgent && m.from !== feedAgent && m.to !== feedAgent) continue
      if (feedState && m.state !== feedState) continue
      if (feedChannel === '@dm' ? Boolean(m.channel) : feedChannel && m.channel !== feedChannel) continue
      out.push(m)
    }
    return out
  }, [order, byId, feedAgent, feedState, feedChannel])

  return (
    <section className="feed">
      <h2 className="pane-title">
        Messages <span className="count">{visible.length}</span>
      </h2>
      <FeedFilters agentNames={choices.agents} channels={choices.channels} />
      {visible.length === 0 ? (
        <p className="empty">{order.length ? 'No messages match the filter.' : 'No messages yet.'}</p>
      ) : (
        <ul className="feed-list">
          {visible.slice(0, shown).map((m) => (
            <FeedItem key={m.id} message={m} />
          ))}
          {visible.length > shown && (
            <li className="feed-more">
              <button type="button" className="small" data-testid="feed-more" onClick={() => setShown((n) => n + FEED_PAGE)}>
                Show {Math.min(FEED_PAGE, visible.length - shown)} older of {visible.length - shown}
              </button>
            </li>
          )}
        </ul>
      )}
    </section>
  )
}
