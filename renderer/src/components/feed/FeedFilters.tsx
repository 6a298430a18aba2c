import { messageStateSchema, type MessageState } from '../../../../shared/ipc'
import { useUiStore } from '../../stores'

export function FeedFilters({ agentNames, channels }: { agentNames: string[]; channels: string[] }) {
  const feedAgent = useUiStore((s) => s.feedAgent)
  const feedChannel = useUiStore((s) => s.feedChannel)
  const setFeedChannel = useUiStore((s) => s.setFeedChannel)
  const feedState = useUiStore((s) => s.feedState)
  const setFeedAgent = useUiStore((s) => s.setFeedAgent)
  const setFeedState = useUiStore((s) => s.setFeedState)
  return (
    <div className="feed-filters">
      <select aria-label="filter by agent" data-testid="feed-filter-agent" value={feedAgent} onChange={(e) => setFeedAgent(e.target.value)}>
        <option value="">all agents</option>
        {agentNames.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
      <select aria-label="filter by channel" data-testid="feed-filter-channel" value={feedChannel} onChange={(e) => setFeedChannel(e.target.value)}>
        <option value="">all channels</option>
        <option value="@dm">direct messages</option>
        {channels.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </select>
      <select
        aria-label="filter by state"
        data-testid="feed-filter-state"
        value={feedState}
        onChange={(e) => setFeedState(e.target.value as MessageState | '')}
      >
        <option value="">all states</option>
        {messageStateSchema.options.map((state) => (
          <option key={state} value={state}>
            {state}
          </option>
        ))}
      </select>
    </div>
  )
}
