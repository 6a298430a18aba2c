/**
 * One error type for everything an agent-facing tool can hit, each with the exit code
 * of the `relay` command and a message written for the person (or model) reading it:
 * what went wrong, and what to do about it.
 */
import { EngineApiError } from '../broker/engine-api-error'

export const EXIT = {
  ok: 0,
  /** The engine answered, and said no (unknown agent, missing route, bad request…). */
  remote: 1,
  usage: 2,
  /** No or rejected credentials / configuration. */
  auth: 3,
  unreachable: 4,
} as const

export type RelayErrorKind = 'remote' | 'usage' | 'auth' | 'unreachable'

export class RelayToolError extends Error {
  constructor(
    readonly kind: RelayErrorKind,
    /** Stable machine code: the engine's code where there is one. */
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'RelayToolError'
  }

  get exitCode(): number {
    return EXIT[this.kind]
  }
}

export const usageError = (message: string): RelayToolError => new RelayToolError('usage', 'usage', message)

/** What the request was about, so a 404 can name the thing that does not exist. */
export interface ErrorContext {
  baseUrl: string
  method: string
  path: string
  /** e.g. `agent "bob"`, `channel #eng`, `message msg_1`. */
  subject?: string
  /** The user-facing name of the operation, for "this engine does not support …". */
  operation?: string
}

/** Turn anything thrown by EngineApi into a RelayToolError a person can act on. */
export function explainError(err: unknown, ctx: ErrorContext): RelayToolError {
  if (err instanceof RelayToolError) return err
  if (!(err instanceof EngineApiError)) {
    return new RelayToolError('remote', 'internal', `unexpected failure talking to ${ctx.baseUrl}: ${String((err as Error)?.message ?? err)}`)
  }
  const { code, status } = err
  if (code === 'engine_unreachable') {
    return new RelayToolError(
      'unreachable',
      code,
      `cannot reach the Relay engine at ${ctx.baseUrl} (tried ${ctx.method} ${ctx.path}: ${err.message.replace(/^.*\(([^)]*)\)$/, '$1')}). ` +
        'Is Relay Desktop (or the engine) running? RELAY_BASE_URL points there.',
    )
  }
  if (status === 401) {
    return new RelayToolError(
      'auth',
      code,
      `the engine at ${ctx.baseUrl} rejected RELAY_AGENT_TOKEN (${code}: ${err.message}). ` +
        'The token may belong to another engine or workspace, or the agent was re-registered; respawn the agent from Relay Desktop to get a fresh one.',
      status,
    )
  }
  if (status === 403) {
    return new RelayToolError('auth', code, `the engine refused ${ctx.method} ${ctx.path}: ${err.message}`, status)
  }
  if (status === 404) {
    // The engine's catch-all answers `not_found` for a route it does not have (yet).
    if (code === 'not_found') {
      return new RelayToolError(
        'remote',
        'unsupported',
        `the engine at ${ctx.baseUrl} does not support ${ctx.operation ?? `${ctx.method} ${ctx.path}`} yet (${ctx.method} ${ctx.path} answered 404)`,
        status,
      )
    }
    return new RelayToolError('remote', code, ctx.subject ? `no ${ctx.subject} in this workspace (${code})` : err.message, status)
  }
  return new RelayToolError('remote', code, `the engine refused ${ctx.method} ${ctx.path}: ${err.message} (${code})`, status)
}
