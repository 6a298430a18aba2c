import { useMemo } from 'react'
import { useAgentsStore, useFeedStore, useUiStore } from '../../stores'
import { FeedFilters } from './FeedFilters'
import { FeedItem } from './FeedItem'

export function MessageFeed() {
  const byId = useFeedStore((s) => s.byId)
  const order = useFeedStore((s) => s.order)
  const agentsByName = useAgentsStore((s) => s.byName)
  const feedAgent = useUiStore((s) => s.feedAgent)
  const feedState = useUiStore((s) => s.feedState)

  // Filter choices: this node's agents plus anyone seen in the feed (remote agents, the user).
  const agentNames = useMemo(() => {
    const names = new Set(Object.keys(agentsByName))
    for (const id of order) {
      names.add(byId[id].from)
      names.add(byId[id].to)
    }
    return [...names].sort()
  }, [agentsByName, order, byId])

  // Newest first, so live traffic shows without scrolling.
  const visible = useMemo(() => {
    const out = []
    for (let i = order.length - 1; i >= 0; i--) {
      const m = byId[order[i]]
      if (feedAgent && m.from !== feedAgent && m.to !== feedAgent) continue
      if (feedState && m.state !== feedState) continue
      out.push(m)
    }
    return out
  }, [order, byId, feedAgent, feedState])

  return (
    <section className="feed">
      <h2 className="pane-title">
        Messages <span className="count">{visible.length}</span>
      </h2>
      <FeedFilters agentNames={agentNames} />
      {visible.length === 0 ? (
        <p className="empty">{order.length ? 'No messages match the filter.' : 'No messages yet.'}</p>
      ) : (
        <ul className="feed-list">
          {visible.map((m) => (
            <FeedItem key={m.id} message={m} />
          ))}
        </ul>
      )}
    </section>
  )
}
