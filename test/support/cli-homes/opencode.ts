/**
 * A $HOME for opencode (1.18.33) that starts offline against the scripted model server.
 *
 * - `$XDG_CONFIG_HOME/opencode/opencode.json` (cli-rig sets XDG_CONFIG_HOME=$HOME/.config):
 *   one provider `rig` with `"npm": "@ai-sdk/openai-compatible"` (bundled in the binary),
 *   `options.baseURL = http://127.0.0.1:PORT/v1`, an `apiKey`, and one model with
 *   `tool_call: true`; `model` and `small_model` (title requests) both set to it;
 *   `autoupdate: false`, `share: "disabled"`.
 * - env `OPENCODE_DISABLE_AUTOUPDATE`, `OPENCODE_DISABLE_MODELS_FETCH` (no models.dev),
 *   `OPENCODE_DISABLE_LSP_DOWNLOAD`, `OPENCODE_DISABLE_DEFAULT_PLUGINS`, `OPENCODE_DISABLE_SHARE`,
 *   `OPENCODE_DISABLE_CLAUDE_CODE` (no reading of ~/.claude), `OPENCODE_DISABLE_EXTERNAL_SKILLS`.
 *
 * opencode has no auth/onboarding/trust dialog with a configured provider; `withDialogs`
 * changes nothing. Extra config (an `mcp` entry, a `permission` rule) goes in through
 * `opencodeConfig(home, extra)`, merged over the seeded file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CliHomePreparer } from '../cli-rig'

export const OPENCODE_RIG_MODEL = 'rig/rig-model'

const configFile = (home: string) => join(home, '.config', 'opencode', 'opencode.json')

export const prepare: CliHomePreparer = (home, opts) => {
  mkdirSync(join(home, '.config', 'opencode'), { recursive: true, mode: 0o700 })
  const config = {
    $schema: 'https://opencode.ai/config.json',
    provider: {
      rig: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Rig',
        options: { baseURL: `${opts.modelUrl}/v1`, apiKey: 'rig-opencode-key' },
        models: { 'rig-model': { name: 'Rig Model', tool_call: true, limit: { context: 128000, output: 8192 } } },
      },
    },
    model: OPENCODE_RIG_MODEL,
    small_model: OPENCODE_RIG_MODEL,
    autoupdate: false,
    share: 'disabled',
  }
  writeFileSync(configFile(home), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  return {
    env: {
      OPENCODE_DISABLE_AUTOUPDATE: 'true',
      OPENCODE_DISABLE_MODELS_FETCH: 'true',
      OPENCODE_DISABLE_LSP_DOWNLOAD: 'true',
      OPENCODE_DISABLE_DEFAULT_PLUGINS: 'true',
      OPENCODE_DISABLE_SHARE: 'true',
      OPENCODE_DISABLE_CLAUDE_CODE: 'true',
      OPENCODE_DISABLE_EXTERNAL_SKILLS: 'true',
    },
    args: [],
  }
}

/** Merge `extra` (top-level keys, e.g. `mcp`, `permission`) into the seeded opencode.json. */
export function opencodeConfig(home: string, extra: Record<string, unknown>): void {
  const cfg = JSON.parse(readFileSync(configFile(home), 'utf8')) as Record<string, unknown>
  writeFileSync(configFile(home), `${JSON.stringify({ ...cfg, ...extra }, null, 2)}\n`, { mode: 0o600 })
}
