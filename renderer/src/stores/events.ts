/**
 * The one gate between host events and the stores: every payload is parsed against the
 * contract here, whatever transport (or test fake) delivered it. Invalid ones are dropped
 * with a warning that says what was dropped.
 */
import { events, type EventName, type EventPayload } from '../../../shared/ipc'

export type AppEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName]

export function parseEvent(event: string, payload: unknown): AppEvent | null {
  if (!Object.prototype.hasOwnProperty.call(events, event)) {
    console.warn(`[events] dropped unknown event ${event}`)
    return null
  }
  const name = event as EventName
  const parsed = events[name].safeParse(payload)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    console.warn(`[events] dropped invalid ${name} payload: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`, payload)
    return null
  }
  return { event: name, payload: parsed.data } as AppEvent
}
