import { memo, useState } from 'react'
import type { FeedMessage } from '../../../../shared/ipc'
import { formatTime } from '../shared/format'
import { StateBadge } from './StateBadge'

/** Memoised: the store keeps unchanged messages by reference, so only changed rows re-render. */
export const FeedItem = memo(function FeedItem({ message }: { message: FeedMessage }) {
  const [expanded, setExpanded] = useState(false)
  const last = message.steps[message.steps.length - 1]
  return (
    <li
      className={`feed-item dir-${message.direction} msg-${message.state}${message.toUser ? ' to-user' : ''}${expanded ? ' expanded' : ''}`}
      data-testid="feed-item"
      data-message-id={message.id}
      data-state={message.state}
      data-channel={message.channel}
    >
      <button type="button" className="feed-head" onClick={() => setExpanded((v) => !v)} aria-expanded={expanded}>
        <span className="feed-route">
          <span className="from">{message.from}</span> → <span className={message.channel ? 'to channel' : 'to'}>{message.toUser ? `${message.to} (you)` : message.to}</span>
        </span>
        <StateBadge state={message.state} />
        {last && <time className="muted">{formatTime(last.at)}</time>}
      </button>
      <div className="feed-text">{message.text}</div>
      {message.error && <div className="inline-error">{message.error}</div>}
      {expanded && (
        <ol className="timeline" data-testid="feed-timeline">
          {message.steps.map((step, i) => (
            <li key={i} className={`step msg-${step.state}`} data-step-state={step.state}>
              <time>{formatTime(step.at)}</time>
              <StateBadge state={step.state} />
              {i > 0 && <span className="muted">+{step.at - message.steps[i - 1].at} ms</span>}
              {step.detail && <span className="step-detail">{step.detail}</span>}
            </li>
          ))}
          {message.steps.length === 0 && <li className="muted">no steps yet</li>}
        </ol>
      )}
    </li>
  )
})
