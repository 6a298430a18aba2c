/** Everything a route or socket handler needs, injected once at startup. */
import type { ActionService } from './actions/service'
import type { DeliveryRouter } from './mailbox/router'
import type { AsyncStore } from './store/types'
import type { UserHub } from './user/hub'

export type LogLevel = 'info' | 'warn' | 'error'
export type Logger = (level: LogLevel, msg: string, extra?: Record<string, unknown>) => void

export interface EngineConfig {
  now: () => number
  mailboxTtlMs: number
  maxInFlightPerAgent: number
  /** action.invoke without an action.result for this long → rescheduled (engine.md §4.4). */
  dispatchTimeoutMs: number
  /** A never-dispatched pending invocation older than this fails (never_dispatched_expired). */
  invocationMaxAgeMs: number
}

export interface EngineContext {
  store: AsyncStore
  router: DeliveryRouter
  hub: UserHub
  actions: ActionService
  config: EngineConfig
  log: Logger
}

/** A node is live only while socket-registered and heartbeating (engine.md §5). */
export const NODE_LIVENESS_TTL_MS = 45_000

/** Agents without a node are online while they called in within this window. */
export const AGENT_PRESENCE_TTL_MS = 60_000

/** Request bodies and ws frames above this are refused. */
export const MAX_BODY_BYTES = 1024 * 1024

/** Retry backoff for invocations: 5 s × 2^(n−1), capped at 60 s. */
export function retryBackoffMs(attempt: number): number {
  return Math.min(5000 * 2 ** Math.max(0, attempt - 1), 60_000)
}
