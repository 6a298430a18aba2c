/**
 * A $HOME for Codex (0.169.x) that starts offline against the scripted model server.
 * `$HOME/.codex/config.toml` (CODEX_HOME = $HOME/.codex):
 *
 * - a model provider `rig` with `base_url = "<model>/v1"`, `wire_api = "responses"`,
 *   `env_key = "RIG_OPENAI_KEY"` (the key comes from that env var; no login needed);
 * - `check_for_update_on_startup = false`, `[analytics] enabled = false`,
 *   `[feedback] enabled = false`, `[features] plugins/remote_plugin = false`;
 * - `[features] daemon_auto_start = false`: by default the TUI starts an app-server daemon
 *   that copies ≈ 400 MB into ~/.codex/packages and outlives the TUI. `--no-daemon` is
 *   passed as well, belt and braces;
 * - `[projects."<cwd>"] trust_level = "trusted"` (no "Trust this folder?" in a git repo;
 *   left out with `withDialogs`), and the one-time notices marked as seen.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CliHomePreparer } from '../cli-rig'

const q = (s: string) => JSON.stringify(s) // a TOML basic string is JSON-compatible for our paths

export const prepare: CliHomePreparer = (home, opts) => {
  const codexHome = join(home, '.codex')
  mkdirSync(codexHome, { recursive: true, mode: 0o700 })
  const lines = [
    'model = "gpt-5"',
    'model_provider = "rig"',
    'check_for_update_on_startup = false',
    '',
    '[model_providers.rig]',
    'name = "rig"',
    `base_url = ${q(`${opts.modelUrl}/v1`)}`,
    'env_key = "RIG_OPENAI_KEY"',
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[features]',
    'plugins = false',
    'remote_plugin = false',
    // No daemon_auto_start here: a user's Codex starts its app-server daemon by default,
    // and the app must keep it from outliving the agent (agent-tools/launch passes
    // features.daemon_auto_start=false). The recorders pass --no-daemon themselves.
    '',
  ]
  if (!opts.withDialogs) {
    lines.push('[notice]', 'hide_full_access_warning = true', 'hide_rate_limit_model_nudge = true', '', `[projects.${q(opts.cwd)}]`, 'trust_level = "trusted"', '')
    // What Codex 0.169 appends on its first run (so the file stays as seeded).
    lines.push('[tui]', 'screen_reader_detection_done = true', '', '[tui.model_availability_nux]', '"gpt-6.1-sol" = 1', '')
  }
  writeFileSync(join(codexHome, 'config.toml'), lines.join('\n'), { mode: 0o600 })
  return {
    env: {
      CODEX_HOME: codexHome,
      RIG_OPENAI_KEY: 'sk-rig-offline',
      // Codex reads OPENAI_API_KEY for its built-in provider only; cleared so a developer's key never leaks in.
      OPENAI_API_KEY: '',
      TERM: 'xterm-256color',
    },
    args: ['--no-daemon'],
  }
}
