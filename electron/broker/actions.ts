/**
 * `action.invoke` (node-protocol.md §6): input resolution for the broker-direct
 * `spawn` / `release`, the in-process handler registry that stands in for v5's local
 * sidecar, and the invocation book (a completed id replays its cached result; an
 * in-flight duplicate gets no second answer, §8 #33).
 */

/** A handler's answer: `{output}` or `{error}` — exactly one, as `action.result` carries. */
export type ActionOutcome = { output: unknown } | { error: string }

export interface ActionContext {
  invocationId: string
  action: string
  agentName?: string
  agentId?: string
}

/** Return the output; throw an ActionError(code) to answer `error: code` verbatim. */
export type ActionHandler = (input: unknown, ctx: ActionContext) => unknown | Promise<unknown>

export class ActionError extends Error {
  constructor(readonly code: string, message = code) {
    super(message)
    this.name = 'ActionError'
  }
}

export const COMPLETED_CACHE_SIZE = 1024

type Settle = (outcome: ActionOutcome) => void

export class ActionBook {
  private readonly completed = new Map<string, ActionOutcome>()
  private readonly inFlight = new Map<string, { action: string; settle: Settle }>()

  cached(id: string): ActionOutcome | undefined {
    return this.completed.get(id)
  }

  isInFlight(id: string): boolean {
    return this.inFlight.has(id)
  }

  /**
   * Run `work` for a new invocation. The returned promise settles once, with the first
   * of: the work's outcome, or an outcome forced by `failInFlight` (handler gone).
   */
  run(id: string, action: string, work: () => Promise<ActionOutcome>): Promise<ActionOutcome> {
    return new Promise<ActionOutcome>((resolve) => {
      let done = false
      const settle: Settle = (outcome) => {
        if (done) return
        done = true
        this.inFlight.delete(id)
        this.completed.set(id, outcome)
        if (this.completed.size > COMPLETED_CACHE_SIZE) {
          this.completed.delete(this.completed.keys().next().value as string)
        }
        resolve(outcome)
      }
      this.inFlight.set(id, { action, settle })
      work().then(settle, (err: unknown) => settle(errorOutcome(err)))
    })
  }

  /** Fail every in-flight invocation of `action` (its handler was unregistered, §8 #32). */
  failInFlight(action: string, error: string): void {
    for (const f of [...this.inFlight.values()]) if (f.action === action) f.settle({ error })
  }
}

export function errorOutcome(err: unknown): ActionOutcome {
  if (err instanceof ActionError) return { error: err.code }
  return { error: `handler_failed: ${(err as Error)?.message ?? String(err)}` }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v)

/** First non-blank string at `keys`, at the top level of `input`, then under `input.agent` (§6.2). */
export function inputString(input: unknown, keys: readonly string[]): string | undefined {
  if (!isObject(input)) return undefined
  for (const scope of [input, isObject(input.agent) ? input.agent : undefined]) {
    if (!scope) continue
    for (const k of keys) {
      const v = scope[k]
      if (typeof v === 'string' && v.trim()) return v.trim()
    }
  }
  return undefined
}

function harnessSessionId(input: unknown): string | undefined {
  if (!isObject(input)) return undefined
  for (const scope of [input, isObject(input.agent) ? input.agent : undefined]) {
    if (!scope) continue
    const h = scope.harnessConfig ?? scope.harness_config
    if (isObject(h)) {
      const v = h.sessionId ?? h.session_id
      if (typeof v === 'string' && v.trim()) return v.trim()
    }
  }
  return undefined
}

export interface SpawnInput {
  name: string
  cli: string
  args: string[]
  cwd?: string
  task?: string
  sessionRef?: string
}

function agentName(frame: { agent_name?: string; agent_id?: string }, input: unknown): string | undefined {
  return frame.agent_name?.trim() || inputString(input, ['name', 'agent_name', 'agent']) || frame.agent_id?.trim() || undefined
}

/**
 * `{name, cli, args?, cwd?, task?}`; `spawn:<cli>` supplies the cli when the input has
 * none (v5 ignored the suffix and failed `spawn_missing_cli`, §8 #50).
 */
export function resolveSpawnInput(
  frame: { action: string; agent_name?: string; agent_id?: string; input: unknown },
): SpawnInput | { error: string } {
  const input = frame.input
  const name = agentName(frame, input)
  if (!name) return { error: 'spawn_missing_agent_name' }
  const suffix = frame.action.startsWith('spawn:') ? frame.action.slice('spawn:'.length).trim() : ''
  const cli = inputString(input, ['cli', 'command', 'provider']) || suffix || undefined
  if (!cli) return { error: 'spawn_missing_cli' }
  const rawArgs = isObject(input) ? (input.args ?? (isObject(input.agent) ? input.agent.args : undefined)) : undefined
  const args = Array.isArray(rawArgs) ? rawArgs.filter((a): a is string => typeof a === 'string') : []
  const out: SpawnInput = { name, cli, args }
  const cwd = inputString(input, ['cwd'])
  if (cwd) out.cwd = cwd
  const task = inputString(input, ['task', 'initial_task', 'prompt'])
  if (task) out.task = task
  const sessionRef = inputString(input, ['session_ref', 'sessionRef']) ?? harnessSessionId(input)
  if (sessionRef) out.sessionRef = sessionRef
  return out
}

export function resolveReleaseInput(frame: { agent_name?: string; agent_id?: string; input: unknown }): { name: string } | { error: string } {
  const name = agentName(frame, frame.input)
  return name ? { name } : { error: 'release_missing_agent_name' }
}

/** The capability a handler advertises: `spawn:x` → kind spawn; never a bare `spawn` (§8 #11). */
export function handlerCapability(name: string): { name: string; kind: string } | undefined {
  if (name === 'spawn') return undefined
  const i = name.indexOf(':')
  return { name, kind: i > 0 ? name.slice(0, i) : 'action' }
}

export type { ActionOutcome as Outcome }
export type RegisteredHandler = { fn: ActionHandler }
