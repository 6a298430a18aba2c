/** Everything a route or socket handler needs, injected once at startup. */
import type { DeliveryRouter } from './mailbox/router'
import type { Store } from './store/types'

export type LogLevel = 'info' | 'warn' | 'error'
export type Logger = (level: LogLevel, msg: string, extra?: Record<string, unknown>) => void

export interface EngineConfig {
  now: () => number
  mailboxTtlMs: number
  maxInFlightPerAgent: number
}

export interface EngineContext {
  store: Store
  router: DeliveryRouter
  config: EngineConfig
  log: Logger
}

/** A node is live only while socket-registered and heartbeating (engine.md §5). */
export const NODE_LIVENESS_TTL_MS = 45_000

/** Request bodies and ws frames above this are refused. */
export const MAX_BODY_BYTES = 1024 * 1024
