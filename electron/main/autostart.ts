/**
 * Start at login. macOS and Windows have `app.setLoginItemSettings`; Linux has no such
 * API (electron/electron #15198), so an XDG autostart entry is written to
 * `~/.config/autostart/relay-desktop.desktop` instead. Either way the app is started with
 * `--hidden`, so a login launch lands in the tray without popping the window.
 * The decisions are pure functions; `applyStartAtLogin` does the I/O and is given its deps.
 */
import { join } from 'node:path'

export const AUTOSTART_FILE = 'relay-desktop.desktop'
export const HIDDEN_FLAG = '--hidden'

/** Quote one Exec argument per the Desktop Entry spec (double quotes; escape " ` $ \\). */
export function desktopExecArg(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg
  return `"${arg.replace(/(["`$\\])/g, '\\$1')}"`
}

export function autostartDesktopEntry(opts: { execPath: string; args?: readonly string[]; name?: string }): string {
  const exec = [opts.execPath, ...(opts.args ?? []), HIDDEN_FLAG].map(desktopExecArg).join(' ')
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${opts.name ?? 'Relay Desktop'}`,
    'Comment=Agent Relay node: runs your coding agents in the tray',
    `Exec=${exec}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    'NoDisplay=false',
    '',
  ].join('\n')
}

export function autostartPath(env: NodeJS.ProcessEnv, home: string): string {
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'autostart', AUTOSTART_FILE)
}

export interface AutostartDeps {
  platform: NodeJS.Platform
  env: NodeJS.ProcessEnv
  home: string
  /** process.execPath of the app (an AppImage sets APPIMAGE to its own path: that one survives updates). */
  execPath: string
  /** Extra args before --hidden (an unpackaged dev run needs the app path). */
  args?: readonly string[]
  setLoginItemSettings(settings: { openAtLogin: boolean; openAsHidden?: boolean; args?: string[] }): void
  writeFile(path: string, data: string): void
  removeFile(path: string): void
  mkdir(path: string): void
}

export function applyStartAtLogin(enabled: boolean, deps: AutostartDeps): void {
  if (deps.platform === 'darwin' || deps.platform === 'win32') {
    deps.setLoginItemSettings({ openAtLogin: enabled, openAsHidden: enabled, args: enabled ? [...(deps.args ?? []), HIDDEN_FLAG] : [] })
    return
  }
  const path = autostartPath(deps.env, deps.home)
  if (!enabled) {
    deps.removeFile(path)
    return
  }
  deps.mkdir(join(path, '..'))
  deps.writeFile(path, autostartDesktopEntry({ execPath: deps.env.APPIMAGE || deps.execPath, args: deps.args }))
}
