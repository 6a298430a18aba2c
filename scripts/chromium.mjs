// Finds the Chromium the browser tests drive: CHROMIUM_PATH, else the usual system paths.
import { existsSync } from 'node:fs'

export const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium']

export function findChromium(env = process.env) {
  if (env.CHROMIUM_PATH) return existsSync(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : undefined
  return CANDIDATES.find((p) => existsSync(p))
}
