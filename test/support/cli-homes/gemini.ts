/**
 * A $HOME for Gemini CLI (0.61.0) that starts offline against the scripted model server:
 *
 * - env `GEMINI_API_KEY` (any string) and `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:PORT`
 *   (no `/v1beta`: the SDK adds it).
 * - `$HOME/.gemini/settings.json`: `security.auth.selectedType = "gemini-api-key"` (without
 *   it the auth-type dialog appears even with a key), `security.folderTrust.enabled = false`
 *   (no "Do you trust this folder?"), auto-update and its notification off, usage statistics
 *   and telemetry off, and a fixed model (no "auto" router side calls).
 *
 * `withDialogs` leaves out the auth type and the folder-trust switch, so the first-run
 * dialogs show. MCP servers are not part of the home: the app passes the relay's through a
 * system-defaults file named by GEMINI_CLI_SYSTEM_DEFAULTS_PATH (see geminiSystemDefaults);
 * Gemini skips that file ("Security Warning: Skipping system defaults file …") when any
 * folder above it is group/world-writable, so it must live in a private (0700) folder.
 */
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { CliHomePreparer } from '../cli-rig'

export const GEMINI_RIG_MODEL = 'gemini-2.5-flash'

export const prepare: CliHomePreparer = (home, opts) => {
  const dir = join(home, '.gemini')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(home, 0o700)
  const settings = {
    security: {
      ...(opts.withDialogs ? {} : { auth: { selectedType: 'gemini-api-key' }, folderTrust: { enabled: false } }),
    },
    general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    model: { name: GEMINI_RIG_MODEL },
  }
  writeFileSync(join(dir, 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`, { mode: 0o600 })
  return {
    env: {
      GEMINI_API_KEY: 'rig-gemini-key',
      GOOGLE_GEMINI_BASE_URL: opts.modelUrl,
    },
    args: [],
  }
}

/**
 * Write a system-defaults settings file holding `mcpServers` into the (private) home, as
 * the app does for the relay's server; returns the env that names it. An entry with
 * `trust: true` runs its tools with no "Allow execution of MCP tool" prompt.
 */
export function geminiSystemDefaults(home: string, mcpServers: Record<string, unknown>): Record<string, string> {
  const dir = join(home, 'system-defaults')
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = join(dir, 'settings.json')
  writeFileSync(file, `${JSON.stringify({ mcpServers }, null, 2)}\n`, { mode: 0o600 })
  return { GEMINI_CLI_SYSTEM_DEFAULTS_PATH: file }
}

/**
 * A fresh private folder for a Gemini home whose parents are none of them group/world
 * writable: the system temp folder (/tmp, mode 1777) does not do — Gemini printed
 * "Security Warning: Skipping system defaults file '<home>/system-defaults/settings.json':
 * Parent directory '/tmp' is insecure: Directory '/tmp' is writable by group or others
 * (mode: 41777)" and started without the MCP server. Made under the user's home
 * (`~/.cache/relay-rig`); pass it as makeCliHome's `home` and clean it up the same way.
 */
export function privateGeminiHome(): string {
  return mkdtempSync(join(privateRigBase(), 'gemini-'))
}

/** `~/.cache/relay-rig`, made private, after checking no folder above it is group/world-writable. */
export function privateRigBase(): string {
  const base = join(homedir(), '.cache', 'relay-rig')
  mkdirSync(base, { recursive: true, mode: 0o700 })
  chmodSync(base, 0o700)
  for (let d = dirname(base); ; d = dirname(d)) {
    const st = statSync(d)
    if (st.mode & 0o022) throw new Error(`${d} is group/world-writable (mode ${(st.mode & 0o7777).toString(8)}): Gemini would skip a system defaults file below it`)
    if (dirname(d) === d) break
  }
  return base
}
