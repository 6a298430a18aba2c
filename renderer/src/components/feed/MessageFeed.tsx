import { useMemo, useState } from 'react'
import type { AgentInfo } from '../../../../shared/ipc'
import { useAgentsStore, useFeedStore, useUiStore } from '../../stores'
import { FeedFilters } from './FeedFilters'
import { FeedItem } from './FeedItem'

/** `name chan chan` per agent, one per line (names and channels have no spaces). */
function agentFilterKey(byName: Record<string, AgentInfo>): string {
  let key = ''
  for (const name in byName) key += `${key ? '\n' : ''}${name}${byName[name].channels?.length ? ` ${byName[name].channels!.join(' ')}` : ''}`
  return key
}

/** Rows rendered at once; older matches are one click away. Keeps a busy feed cheap to draw. */
export const FEED_PAGE = 150

export function MessageFeed() {
  const [shown, setShown] = useState(FEED_PAGE)
  const byId = useFeedStore((s) => s.byId)
  const order = useFeedStore((s) => s.order)
  // Only what the filter needs (names, channels), as a string: an agent's every status change
  // must not re-render the feed.
  const agentKey = useAgentsStore((s) => agentFilterKey(s.byName))
  const feedAgent = useUiStore((s) => s.feedAgent)
  const feedState = useUiStore((s) => s.feedState)
  const feedChannel = useUiStore((s) => s.feedChannel)

  // Filter choices: this node's agents plus anyone seen in the feed (remote agents, the user).
  const choices = useMemo(() => {
    const names = new Set<string>()
    const chans = new Set<string>()
    for (const entry of agentKey ? agentKey.split('\n') : []) {
      const [name, ...channels] = entry.split(' ')
      names.add(name)
      for (const c of channels) chans.add(`#${c}`)
    }
    for (const id of order) {
      const m = byId[id]
      names.add(m.from)
      if (m.channel) chans.add(m.channel)
      else names.add(m.to)
    }
    return { agents: [...names].sort(), channels: [...chans].sort() }
  }, [agentKey, order, byId])

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
