import type { MessageState } from '../../../../shared/ipc'

export function StateBadge({ state }: { state: MessageState }) {
  return <span className={`state-badge msg-${state}`}>{state}</span>
}
