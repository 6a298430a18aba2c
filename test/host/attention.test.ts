/** AttentionTracker: agent activity from the screen (readable CLIs) or output timing, attention flags, notifications. */
import { describe, expect, it } from 'vitest'
import type { AgentSnapshot } from '../../electron/broker'
import type { ScreenState } from '../../electron/broker/screen'
import { activityOfScreen, AttentionTracker } from '../../electron/host/attention'
import { DEFAULT_NOTIFICATIONS } from '../../electron/host/settings'
import { Notifier, type Viewing } from '../../electron/host/notifier'
import type { AppNotification } from '../../shared/ipc'
import { needsAttention, buildTrayMenuTemplate, trayState } from '../../electron/main/tray-model'

function rig() {
  const shown: AppNotification[] = []
  let viewing: Viewing = { agent: null, focused: false }
  const snaps = new Map<string, AgentSnapshot>()
  const notifier = new Notifier({ prefs: () => DEFAULT_NOTIFICATIONS, viewing: () => viewing, emit: (n) => shown.push(n), mergeWindowMs: 0 })
  const t = new AttentionTracker({ notifier, viewing: () => viewing, idleMs: () => 1000, snapshot: (n) => snaps.get(n), lastLine: () => 'last line' })
  const snap = (name: string, state?: ScreenState, detail?: string): AgentSnapshot => {
    const s: AgentSnapshot = { name, command: 'claude', args: [], cwd: '/tmp', status: 'running', startedAt: 0, pendingInjections: 0 }
    if (state) s.screen = detail ? { state, detail } : { state }
    snaps.set(name, s)
    t.snapshot(s)
    return s
  }
  return { t, shown, snap, look: (v: Viewing) => (viewing = v) }
}

describe('agent activity and attention', () => {
  it('maps every screen state to what the UI shows', () => {
    expect(activityOfScreen('busy')).toBe('working')
    expect(activityOfScreen('idle')).toBe('idle')
    expect(activityOfScreen('typing')).toBe('idle')
    expect(activityOfScreen('paste_pending')).toBe('idle')
    expect(activityOfScreen('permission')).toBe('needs_approval')
    expect(activityOfScreen('dialog')).toBe('dialog')
    expect(activityOfScreen('starting')).toBe('starting')
    expect(activityOfScreen('unknown')).toBeUndefined()
  })

  it('a permission prompt flags the agent and notifies once with the question; answering it clears the flag', () => {
    const r = rig()
    r.snap('claude-1', 'busy')
    expect(r.t.describe(r.snap('claude-1', 'busy'))).toEqual({ activity: 'working' })
    const blocked = r.snap('claude-1', 'permission', 'agent-relay - send_dm')
    expect(r.t.describe(blocked)).toEqual({ activity: 'needs_approval', activityDetail: 'agent-relay - send_dm', attention: true })
    expect(r.shown.map((n) => [n.kind, n.title, n.body])).toEqual([['agentBlocked', 'claude-1 needs your approval', 'agent-relay - send_dm']])
    r.snap('claude-1', 'permission', 'agent-relay - send_dm') // the same prompt redrawn: no second notification
    expect(r.shown).toHaveLength(1)
    // Output while the prompt shows does not clear it: the agent is still blocked.
    r.t.output('claude-1', 1)
    expect(r.t.describe(blocked).attention).toBe(true)
    const answered = r.snap('claude-1', 'busy')
    expect(r.t.describe(answered)).toEqual({ activity: 'working' })
  })

  it('a dialog on the agent the user is looking at notifies (it still blocks) but does not flag', () => {
    const r = rig()
    r.look({ agent: 'codex-1', focused: true })
    const s = r.snap('codex-1', 'dialog', 'Trust this folder?')
    expect(r.t.describe(s)).toEqual({ activity: 'dialog', activityDetail: 'Trust this folder?' })
    expect(r.shown).toHaveLength(0) // the notifier never notifies about what the user looks at
  })

  it('a readable CLI busy in a quiet tool is not reported as waiting; an idle one is', () => {
    const r = rig()
    r.snap('a', 'busy')
    r.snap('b', 'idle')
    r.t.output('a', 0)
    r.t.output('b', 0)
    expect(r.t.sweep(5000)).toEqual(['b'])
    expect(r.shown.map((n) => [n.kind, n.agent])).toEqual([['agentIdle', 'b']])
  })

  it('a program Relay cannot read falls back to output timing', () => {
    const r = rig()
    const s = r.snap('cat-1')
    r.t.output('cat-1', 0)
    expect(r.t.describe(s).activity).toBe('working')
    r.t.sweep(5000)
    expect(r.t.describe(s)).toEqual({ activity: 'idle', attention: true })
    expect(r.t.output('cat-1', 6000)).toBe(true)
    expect(r.t.describe(s)).toEqual({ activity: 'working' })
  })

  it('the tray shows an agent that needs approval as needing attention, named in the menu', () => {
    const status = { state: 'connected' as const, nodeName: 'n', nodeId: 'x', engineUrl: '', embeddedEngine: true, agentsOnline: 1 }
    const agent = { name: 'claude-1', command: 'claude', args: [], cwd: '/', status: 'running' as const, startedAt: 0, pendingInjections: 0, activity: 'needs_approval' as const }
    expect(needsAttention(agent)).toBe(true)
    expect(trayState(status, [agent])).toBe('attention')
    const labels = buildTrayMenuTemplate(status, [agent], { reconnect() {}, openTerminal() {}, stopAgent() {}, spawnAgent() {}, openWindow() {}, openSettings() {}, quit() {} }).map((i) => i.label)
    expect(labels).toContain('claude-1 (needs approval)')
    expect(trayState(status, [{ ...agent, activity: 'working' }])).toBe('working')
  })
})
