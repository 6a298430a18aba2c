/**
 * The tray icon: Electron glue around tray-model.ts. It redraws from the host's own
 * status() and agents() on relevant host events, debounced, because an agent starting
 * emits a burst of changes and rebuilding a native menu on each would flicker.
 */
import { join } from 'node:path'
import { Menu, Tray, nativeImage, type NativeImage } from 'electron'
import type { Host } from '../host'
import { buildTrayMenuTemplate, trayIconFile, trayState, trayTooltip, type TrayActions } from './tray-model'

export interface TrayUi {
  /** Show and focus the app window. */
  showWindow(): void
  /** Show the window with that agent's terminal in front. */
  focusAgent(agentName: string): void
  /** Show the window with the spawn dialog open. */
  openSpawn(): void
  openSettings(): void
  quit(): void
}

export interface TrayOptions {
  host: Pick<Host, 'invoke' | 'onEvent' | 'status' | 'agents'>
  ui: TrayUi
  iconDir: string
  platform?: NodeJS.Platform
  debounceMs?: number
  log?: (message: string, detail?: unknown) => void
}

export interface TrayController {
  /** Redraw now (skipping the debounce). */
  refresh(): void
  destroy(): void
}

/** Tray actions in terms of host commands; a failed command is logged, never thrown. */
export function hostTrayActions(
  host: Pick<Host, 'invoke'>,
  ui: TrayUi,
  log: (message: string, detail?: unknown) => void = () => undefined,
): TrayActions {
  const run = (command: string, request: unknown): void => {
    host.invoke(command, request).then(
      (outcome) => {
        if (!outcome.ok) log(`tray: ${command} failed: ${outcome.error.message}`, outcome.error)
      },
      (error: unknown) => log(`tray: ${command} threw`, error),
    )
  }
  return {
    reconnect: () => run('node.reconnect', {}),
    stopAgent: (name) => run('agents.stop', { name }),
    openTerminal: (name) => ui.focusAgent(name),
    // Spawning needs a command, a name and a folder: that dialog lives in the window.
    spawnAgent: () => ui.openSpawn(),
    openWindow: () => ui.showWindow(),
    openSettings: () => ui.openSettings(),
    quit: () => ui.quit(),
  }
}

/** Events that change what the tray shows; terminal output and messages don't. */
const TRAY_EVENTS = new Set(['node.status', 'agent.changed', 'agent.removed'])

export function createTray(options: TrayOptions): TrayController {
  const { host, iconDir } = options
  const platform = options.platform ?? process.platform
  const log = options.log ?? (() => undefined)
  const actions = hostTrayActions(host, options.ui, log)
  const images = new Map<string, NativeImage>()
  const image = (file: string): NativeImage => {
    let img = images.get(file)
    if (!img) {
      // createFromPath picks up the @2x sibling by itself on HiDPI screens.
      img = nativeImage.createFromPath(join(iconDir, file))
      if (img.isEmpty()) log(`tray: icon ${file} missing in ${iconDir}`)
      images.set(file, img)
    }
    return img
  }

  const initial = trayIconFile(trayState(host.status(), host.agents()), platform)
  const tray = new Tray(image(initial))
  let shownIcon = initial
  // Windows and most Linux desktops open the app on a left click; macOS shows the menu.
  if (platform !== 'darwin') tray.on('click', () => actions.openWindow())

  const refresh = (): void => {
    const status = host.status()
    const agents = host.agents()
    const icon = trayIconFile(trayState(status, agents), platform)
    if (icon !== shownIcon) {
      tray.setImage(image(icon))
      shownIcon = icon
    }
    tray.setToolTip(trayTooltip(status, agents))
    tray.setContextMenu(Menu.buildFromTemplate(buildTrayMenuTemplate(status, agents, actions)))
  }

  // Trailing redraw at most every debounceMs: a burst costs one rebuild, and a steady
  // stream of events still shows up within debounceMs.
  let timer: ReturnType<typeof setTimeout> | undefined
  const schedule = (): void => {
    if (timer) return
    timer = setTimeout(() => {
      timer = undefined
      refresh()
    }, options.debounceMs ?? 150)
  }
  const unsubscribe = host.onEvent((event) => {
    if (TRAY_EVENTS.has(event)) schedule()
  })
  refresh()

  return {
    refresh,
    destroy() {
      unsubscribe()
      if (timer) clearTimeout(timer)
      timer = undefined
      tray.destroy()
    },
  }
}
