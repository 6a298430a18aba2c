/**
 * The real agent CLIs for tests: where the rig installed them (test/real-clis, by
 * scripts/setup.mjs), whether one can run here, and a throwaway HOME seeded so it starts
 * offline against the scripted model server with no onboarding, login or trust dialog.
 *
 *   const model = await startModelServer()
 *   const home = makeCliHome('codex', { modelUrl: model.url, cwd })
 *   spawn(cliBin('codex'), args, { env: { ...home.env } })
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { prepare as prepareClaude } from './cli-homes/claude'
import { prepare as prepareCodex } from './cli-homes/codex'
import { prepare as prepareGemini } from './cli-homes/gemini'
import { prepare as prepareOpencode } from './cli-homes/opencode'

export const RIG_CLIS = ['claude', 'codex', 'gemini', 'opencode'] as const
export type RigCli = (typeof RIG_CLIS)[number]

const root = resolve(__dirname, '../..')
export const RIG_DIR = join(root, 'test', 'real-clis')
export const RIG_BIN_DIR = join(RIG_DIR, 'node_modules', '.bin')

export function cliBin(cli: RigCli): string {
  return join(RIG_BIN_DIR, cli)
}

/** Whether the rig's CLI is installed; `reason` for a skip message. */
export function rigAvailability(cli: RigCli): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return { ok: false, reason: `the real-CLI rig is set up for linux-x64 only (this is ${process.platform}-${process.arch})` }
  }
  if (!existsSync(cliBin(cli))) return { ok: false, reason: `${cli} is not installed in ${RIG_DIR}; run npm test (its set-up installs the rig)` }
  return { ok: true }
}

export interface CliHomeOptions {
  /** The scripted model server's base URL, `http://127.0.0.1:PORT`. */
  modelUrl: string
  /** The folder the CLI will run in (trusted in the seeded config). */
  cwd: string
  /** A HOME to seed; default a fresh private temp folder. */
  home?: string
  /**
   * Leave out the seeding that suppresses first-run dialogs (onboarding, trust, API key
   * approval), for the tests that check the dialogs themselves.
   */
  withDialogs?: boolean
}

export interface CliHome {
  home: string
  /** Environment for the CLI (HOME, keys, base URLs, no telemetry, no updates). Merge over process.env. */
  env: Record<string, string>
  /** Arguments the CLI needs for the rig (e.g. a model name), before the test's own. */
  args: string[]
  cleanup(): void
}

export type CliHomePreparer = (home: string, opts: CliHomeOptions) => { env: Record<string, string>; args: string[] }

const PREPARERS: Record<RigCli, CliHomePreparer> = {
  claude: prepareClaude,
  codex: prepareCodex,
  gemini: prepareGemini,
  opencode: prepareOpencode,
}

export function makeCliHome(cli: RigCli, opts: CliHomeOptions): CliHome {
  // Private (0700): Gemini skips settings below a group/world-writable folder.
  const home = opts.home ?? mkdtempSync(join(tmpdir(), `rig-${cli}-`))
  mkdirSync(home, { recursive: true, mode: 0o700 })
  const { env, args } = PREPARERS[cli](home, opts)
  return {
    home,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_STATE_HOME: join(home, '.local', 'state'),
      NO_UPDATE_NOTIFIER: '1',
      ...env,
    },
    args,
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  }
}
