/**
 * Which notifications the user gets: the host decides, Electron shows them natively and
 * headless mode as in-page toasts. Rules (desktop-apps.md §2.1 #1):
 * - each kind can be turned off in settings;
 * - none about what the user is looking at (window focused and showing that agent;
 *   for messages to the user, window focused at all: the feed is always on screen);
 * - repeats of one kind for one agent within `mergeWindowMs` are merged: the next one
 *   shown says how many were folded into it.
 */
import type { AppNotification, NotificationKind, NotificationPrefs } from '../../shared/ipc'

export interface Viewing {
  agent: string | null
  focused: boolean
}

export interface NotifyInput {
  kind: NotificationKind
  title: string
  body: string
  agent?: string
  messageId?: string
  /** Merge key beyond kind+agent (e.g. the sender of a message to the user). */
  key?: string
}

export const MERGE_WINDOW_MS = 30_000

export class Notifier {
  private readonly last = new Map<string, { at: number; merged: number }>()
  private seq = 0

  constructor(
    private readonly deps: {
      prefs: () => NotificationPrefs
      viewing: () => Viewing
      emit: (n: AppNotification) => void
      now?: () => number
      mergeWindowMs?: number
    },
  ) {}

  /** Returns the notification when shown, undefined when off, suppressed or merged. */
  notify(input: NotifyInput): AppNotification | undefined {
    const prefs = this.deps.prefs()
    if (!prefs[input.kind]) return undefined
    const view = this.deps.viewing()
    if (view.focused && (input.kind === 'messageToUser' || (input.agent !== undefined && view.agent === input.agent))) return undefined
    const now = this.deps.now?.() ?? Date.now()
    const key = `${input.kind}:${input.agent ?? ''}:${input.key ?? ''}`
    const prev = this.last.get(key)
    const window = this.deps.mergeWindowMs ?? MERGE_WINDOW_MS
    if (prev && now - prev.at < window) {
      prev.merged += 1
      return undefined
    }
    const merged = prev?.merged ?? 0
    this.last.set(key, { at: now, merged: 0 })
    if (this.last.size > 500) this.last.delete(this.last.keys().next().value as string)
    const n: AppNotification = {
      id: `n${++this.seq}`,
      kind: input.kind,
      title: input.title,
      body: merged > 0 ? `${input.body} (+${merged} similar)` : input.body,
      at: now,
      merged,
      ...(input.agent !== undefined ? { agent: input.agent } : {}),
      ...(input.messageId !== undefined ? { messageId: input.messageId } : {}),
    }
    this.deps.emit(n)
    return n
  }
}

/**
 * "Waiting for input": an agent that printed something and then went quiet for
 * `idleMs`. One sweep a second for all agents, instead of a timer reset on every chunk.
 */
export class IdleDetector {
  private readonly agents = new Map<string, { lastOutputAt: number; idle: boolean }>()

  /** Output arrived; true when the agent was idle and is now working again. */
  output(name: string, now: number): boolean {
    const a = this.agents.get(name)
    if (!a) {
      this.agents.set(name, { lastOutputAt: now, idle: false })
      return true
    }
    a.lastOutputAt = now
    if (!a.idle) return false
    a.idle = false
    return true
  }

  /** Agents that just became idle. */
  sweep(now: number, idleMs: number): string[] {
    const out: string[] = []
    for (const [name, a] of this.agents) {
      if (!a.idle && now - a.lastOutputAt >= idleMs) {
        a.idle = true
        out.push(name)
      }
    }
    return out
  }

  activity(name: string): 'working' | 'idle' | undefined {
    const a = this.agents.get(name)
    return a ? (a.idle ? 'idle' : 'working') : undefined
  }

  forget(name: string): void {
    this.agents.delete(name)
  }
}
