/**
 * A $HOME for Claude Code (2.1.x) that starts offline against the scripted model server:
 *
 * - env: ANTHROPIC_BASE_URL (no /v1), ANTHROPIC_API_KEY (any `sk-ant-…` string),
 *   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 (no telemetry, error reports, update checks),
 *   DISABLE_AUTOUPDATER=1.
 * - `$HOME/.claude.json`: `hasCompletedOnboarding` + `theme` (no theme picker / welcome),
 *   `customApiKeyResponses.approved` = the key's last 20 characters (no "use this API
 *   key?" dialog), `projects[<cwd>].hasTrustDialogAccepted` (no folder-trust dialog).
 *   With `withDialogs` the key approval, trust and one-time notices are left out (the
 *   onboarding itself cannot run offline, see below).
 *
 * Run as root, `--dangerously-skip-permissions` refuses unless IS_SANDBOX=1 (set here).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CliHomePreparer } from '../cli-rig'

export const CLAUDE_RIG_KEY = 'sk-ant-api03-rig-offline-0000000000000000000000000000000000000000-RIGKEYAA'

export const prepare: CliHomePreparer = (home, opts) => {
  mkdirSync(join(home, '.claude'), { recursive: true, mode: 0o700 })
  const state: Record<string, unknown> = {
    numStartups: 1,
    installMethod: 'npm',
    autoUpdates: false,
    firstStartTime: new Date(0).toISOString(),
    userID: '0'.repeat(64),
    // Onboarding (theme picker) stays done even with `withDialogs`: its connectivity
    // preflight fetches https://api.anthropic.com/api/hello whatever ANTHROPIC_BASE_URL
    // says, and offline Claude then prints "Unable to connect to Anthropic services /
    // Failed to connect to api.anthropic.com: ENOTFOUND" and exits.
    hasCompletedOnboarding: true,
    lastOnboardingVersion: '2.1.328',
    theme: 'dark',
  }
  if (!opts.withDialogs) {
    Object.assign(state, {
      // "Try the new fullscreen renderer?" upsell (shown until seen 3 times) and the
      // auto-mode nudge: both are modal and eat a message typed at start-up.
      fullscreenUpsellSeenCount: 3,
      hasSeenAutoDefaultNudge: true,
      customApiKeyResponses: { approved: [CLAUDE_RIG_KEY.slice(-20)], rejected: [] },
      projects: {
        [opts.cwd]: {
          allowedTools: [],
          hasTrustDialogAccepted: true,
          hasCompletedProjectOnboarding: true,
          projectOnboardingSeenCount: 1,
        },
      },
    })
  }
  writeFileSync(join(home, '.claude.json'), JSON.stringify(state, null, 2), { mode: 0o600 })
  // Classic permission mode (a user's choice the issue was reported with): every tool call
  // not allowed by a rule asks "Do you want to proceed?". In the default "auto" mode the
  // server-side check decides, which the rig's adapter always passes, so a test could not
  // tell whether Relay pre-approved its tools.
  // (Written the way Claude itself migrates `autoUpdates: false`, so it leaves the file alone.)
  const settings = { permissions: { defaultMode: 'default' }, env: { DISABLE_AUTOUPDATER: '1' } }
  writeFileSync(join(home, '.claude', 'settings.json'), JSON.stringify(settings, null, 2), { mode: 0o600 })
  return {
    env: {
      ANTHROPIC_BASE_URL: opts.modelUrl,
      ANTHROPIC_API_KEY: CLAUDE_RIG_KEY,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      IS_SANDBOX: '1',
      TERM: 'xterm-256color',
    },
    args: [],
  }
}
