/**
 * What each agent is doing, and which agents want the user — one place for the rules
 * the agent list, the tray and the notifications share:
 *
 * - For a CLI Relay can read (broker screen/), activity comes from its screen: working,
 *   idle (waiting for input), needs approval (a permission prompt), dialog, starting.
 *   Wrong agent status is the bug users of peer apps report most, so no guessing here.
 * - For other programs, from output timing (IdleDetector): printed recently = working,
 *   quiet for `idleSeconds` = idle.
 * - Attention (tray "needs you", the agent's dot) is set when an agent crashed, waits
 *   for approval or shows a dialog, or went idle, while the user was not looking at it;
 *   looking at it, or the agent moving on, clears it.
 * - Notifications: `agentBlocked` on entering needs-approval / dialog (with the question),
 *   `agentIdle` when a quiet agent is waiting for input — never for a readable CLI that
 *   is busy in a quiet tool, nor one already reported blocked.
 */
import type { AgentActivity, AgentInfo } from '../../shared/ipc'
import type { AgentSnapshot } from '../broker'
import type { ScreenState } from '../broker/screen'
import { IdleDetector, type Notifier, type Viewing } from './notifier'

export function activityOfScreen(state: ScreenState): AgentActivity | undefined {
  switch (state) {
    case 'starting':
      return 'starting'
    case 'idle':
    case 'typing':
    case 'paste_pending':
      return 'idle'
    case 'busy':
      return 'working'
    case 'permission':
      return 'needs_approval'
    case 'dialog':
      return 'dialog'
    default:
      return undefined
  }
}

const BLOCKED: ReadonlySet<AgentActivity> = new Set(['needs_approval', 'dialog'])

export interface AttentionDeps {
  notifier: Notifier
  viewing: () => Viewing
  idleMs: () => number
  /** The agent's last line of output, for the idle notification. */
  lastLine: (name: string) => string
  /** The current snapshot of a live agent. */
  snapshot: (name: string) => AgentSnapshot | undefined
}

export class AttentionTracker {
  private readonly idle = new IdleDetector()
  private readonly flagged = new Set<string>()
  /** Last screen activity seen per agent, to notice transitions. */
  private readonly screenActivity = new Map<string, AgentActivity>()

  constructor(private readonly deps: AttentionDeps) {}

  /** The activity fields of an agent's info. */
  describe(a: AgentSnapshot): Pick<AgentInfo, 'activity' | 'activityDetail' | 'attention'> {
    const out: Pick<AgentInfo, 'activity' | 'activityDetail' | 'attention'> = {}
    if (a.status === 'running') {
      const fromScreen = a.screen ? activityOfScreen(a.screen.state) : undefined
      const activity = fromScreen ?? this.idle.activity(a.name)
      if (activity) out.activity = activity
      if (fromScreen && a.screen?.detail) out.activityDetail = a.screen.detail
    }
    if (this.flagged.has(a.name)) out.attention = true
    return out
  }

  /** Output arrived; true when the agent's info changed (it was idle, or flagged idle). */
  output(name: string, now: number): boolean {
    if (!this.idle.output(name, now)) return false
    // Output after going idle: it works again. A blocked CLI keeps its flag until it moves on.
    const screen = this.screenActivity.get(name)
    if (!screen || !BLOCKED.has(screen)) this.flagged.delete(name)
    return true
  }

  /** A snapshot arrived (agent.state); notifies on entering needs-approval or a dialog. */
  snapshot(a: AgentSnapshot): void {
    const activity = a.status === 'running' && a.screen ? activityOfScreen(a.screen.state) : undefined
    const prev = this.screenActivity.get(a.name)
    if (activity) this.screenActivity.set(a.name, activity)
    else this.screenActivity.delete(a.name)
    if (activity === prev) return
    if (activity && BLOCKED.has(activity)) {
      if (!this.lookingAt(a.name)) this.flagged.add(a.name)
      const what = activity === 'needs_approval' ? 'needs your approval' : 'shows a dialog'
      this.deps.notifier.notify({ kind: 'agentBlocked', agent: a.name, title: `${a.name} ${what}`, body: a.screen?.detail ?? 'Open its terminal to answer.' })
    } else if (prev && BLOCKED.has(prev)) {
      // Answered (by the user, or it timed out): nothing is waiting any more.
      this.flagged.delete(a.name)
    }
  }

  /** An agent stopped on its own with a failure. */
  crashed(name: string): void {
    this.flagged.add(name)
  }

  /** The user looked at it, stopped, restarted or removed it. True when that cleared a flag. */
  clear(name: string): boolean {
    return this.flagged.delete(name)
  }

  forget(name: string): void {
    this.idle.forget(name)
    this.screenActivity.delete(name)
  }

  /** One sweep: agents that just went quiet get an idle notification. Returns the names whose info changed. */
  sweep(now: number): string[] {
    const changed: string[] = []
    for (const name of this.idle.sweep(now, this.deps.idleMs())) {
      const snap = this.deps.snapshot(name)
      if (!snap || snap.status !== 'running') continue
      const screen = this.screenActivity.get(name)
      // The screen knows better: busy in a quiet tool is not waiting, and a blocked one was already reported.
      if (screen && screen !== 'idle') continue
      if (!this.lookingAt(name)) this.flagged.add(name)
      const line = this.deps.lastLine(name)
      this.deps.notifier.notify({ kind: 'agentIdle', agent: name, title: `${name} is waiting for input`, body: line || 'No output for a while.' })
      changed.push(name)
    }
    return changed
  }

  private lookingAt(name: string): boolean {
    const v = this.deps.viewing()
    return v.focused && v.agent === name
  }
}
