/**
 * What the tray shows, as pure functions of the host's status and agents, so every
 * rule (icon state, tooltip, menu) is testable without Electron.
 */
import type { MenuItemConstructorOptions } from 'electron'
import type { AgentInfo, NodeStatus } from '../../shared/ipc/contract'

export type TrayState = 'idle' | 'working' | 'attention' | 'disconnected'

/**
 * An agent that wants the user: it stopped on its own with a failure, or the host flagged it
 * (crashed, or waiting for input) and the user hasn't looked at it yet.
 */
export function needsAttention(agent: AgentInfo): boolean {
  if (agent.attention) return true
  // A prompt or dialog blocks the agent until someone answers, looked at or not.
  if (agent.status === 'running' && (agent.activity === 'needs_approval' || agent.activity === 'dialog')) return true
  if (agent.dormant) return false
  return agent.status === 'failed' || (agent.status === 'exited' && agent.exitCode != null && agent.exitCode !== 0)
}

export function isLive(agent: AgentInfo): boolean {
  return agent.status === 'running' || agent.status === 'starting'
}

/**
 * Most urgent first: without a connection no message reaches any agent, so that
 * outranks a failed agent; a failure outranks routine work.
 */
export function trayState(status: NodeStatus, agents: readonly AgentInfo[]): TrayState {
  if (status.state !== 'connected') return 'disconnected'
  if (agents.some(needsAttention) || (status.userUnread ?? 0) > 0) return 'attention'
  if (agents.some(isLive)) return 'working'
  return 'idle'
}

export function trayTooltip(status: NodeStatus, agents: readonly AgentInfo[]): string {
  const live = agents.filter(isLive).length
  const failed = agents.filter(needsAttention).length
  const parts = [`Relay: ${status.nodeName} ${status.state}`, `${live} running`]
  if (failed > 0) parts.push(`${failed} need${failed === 1 ? 's' : ''} attention`)
  const unread = status.userUnread ?? 0
  if (unread > 0) parts.push(`${unread} message${unread === 1 ? '' : 's'} for you`)
  return parts.join(' · ')
}

/** The file names in build/tray for a state. macOS gets a template image when all is well. */
export function trayIconFile(state: TrayState, platform: NodeJS.Platform): string {
  // A template image follows the menu bar's light/dark look but has no colour, so on
  // macOS it is used only for idle; the other states must stand out.
  if (platform === 'darwin' && state === 'idle') return 'trayTemplate.png'
  return `tray-${state}.png`
}

export interface TrayActions {
  reconnect(): void
  openTerminal(agentName: string): void
  stopAgent(agentName: string): void
  spawnAgent(): void
  openWindow(): void
  openSettings(): void
  quit(): void
}

const STATE_WORDS: Record<NodeStatus['state'], string> = {
  starting: 'starting',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
}

/**
 * Every action lives in the menu, because Linux AppIndicator trays may never deliver
 * the click event that other platforms use to open the window.
 */
export function buildTrayMenuTemplate(
  status: NodeStatus,
  agents: readonly AgentInfo[],
  actions: TrayActions,
): MenuItemConstructorOptions[] {
  const live = agents.filter(isLive)
  const failed = agents.filter(needsAttention).length
  const items: MenuItemConstructorOptions[] = [
    { id: 'node-status', label: `Node ${status.nodeName}: ${STATE_WORDS[status.state]}`, enabled: false },
    { id: 'engine-url', label: `Engine: ${status.engineUrl}${status.embeddedEngine ? ' (built-in)' : ''}`, enabled: false },
  ]
  if (status.reason && status.state !== 'connected') items.push({ id: 'node-reason', label: status.reason, enabled: false })
  items.push({ id: 'reconnect', label: 'Reconnect', click: () => actions.reconnect() }, { type: 'separator' })

  items.push({ id: 'agents-count', label: agentsLine(live.length, failed), enabled: false })
  for (const agent of live) {
    const note = trayNote(agent)
    items.push({
      id: `agent:${agent.name}`,
      label: `${agent.name}${note}`,
      submenu: [
        { id: `agent:${agent.name}:open`, label: 'Open terminal', click: () => actions.openTerminal(agent.name) },
        { id: `agent:${agent.name}:stop`, label: 'Stop', click: () => actions.stopAgent(agent.name) },
      ],
    })
  }
  items.push(
    { id: 'spawn', label: 'Spawn agent…', click: () => actions.spawnAgent() },
    { type: 'separator' },
    { id: 'open-window', label: 'Open window', click: () => actions.openWindow() },
    { id: 'settings', label: 'Settings…', click: () => actions.openSettings() },
    { id: 'quit', label: 'Quit and stop agents', click: () => actions.quit() },
  )
  return items
}

function trayNote(agent: AgentInfo): string {
  if (agent.status === 'starting' || agent.activity === 'starting') return ' (starting)'
  if (agent.activity === 'needs_approval') return ' (needs approval)'
  if (agent.activity === 'dialog') return ' (dialog)'
  if (agent.attention) return ' (needs you)'
  if (agent.activity === 'idle') return ' (waiting)'
  if (agent.activity === 'working') return ' (working)'
  return ''
}

function agentsLine(live: number, failed: number): string {
  const running = live === 1 ? '1 agent running' : `${live} agents running`
  return failed > 0 ? `${running}, ${failed} need attention` : running
}
