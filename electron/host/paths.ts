/** Where an app instance keeps its data when nobody says otherwise (Electron's userData layout). */
import { homedir } from 'node:os'
import { join } from 'node:path'

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.RELAY_DESKTOP_DATA_DIR) return env.RELAY_DESKTOP_DATA_DIR
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'relay-desktop')
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'relay-desktop')
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'relay-desktop')
}
