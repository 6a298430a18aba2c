/**
 * How to start an agent CLI so that it can talk back at once: the Agent Relay MCP
 * server configured the way each CLI takes it (node-protocol.md §2.6), with this
 * agent's own identity, and the environment for the `relay` command.
 *
 *   claude    --mcp-config '<json>'                    (inline JSON, as upstream)
 *   codex     --config mcp_servers.agent-relay.command=… / .args=[…] / .env={…}
 *             (TOML values; codex has no config-file flag, -c overrides leave the
 *             user's ~/.codex/config.toml untouched)
 *   gemini    <configDir>/gemini-system-defaults.json + GEMINI_CLI_SYSTEM_DEFAULTS_PATH
 *             (the lowest settings layer: mcpServers merge with the user's and the
 *             project's settings, which stay untouched; `gemini mcp add` would edit them)
 *   opencode  <configDir>/opencode.json + OPENCODE_CONFIG (a custom layer merged over
 *             the global config, under the project's)
 *   others    no arguments, no files; the environment only.
 *
 * Approval (`permissions`): by default exactly the relay's own MCP tools run without a
 * prompt, so an agent can answer a message without waiting for a person, and every
 * other tool still asks:
 *   claude    --allowedTools mcp__agent-relay (a rule naming the server allows its tools)
 *   codex     mcp_servers.agent-relay.default_tools_approval_mode = "approve"
 *   gemini    "trust": true on the server entry
 *   opencode  nothing (it does not ask for MCP tools by default)
 * `skip-all` is the upstream agent-relay behaviour, a Settings option off by default:
 * claude --dangerously-skip-permissions, codex --dangerously-bypass-approvals-and-sandbox,
 * gemini --approval-mode yolo, opencode `permission: allow`.
 *
 * The MCP server is this project's relay program with `mcp` (relayInvocation: `<node>
 * bin/relay.mjs mcp`, or the app binary with `--relay-cli mcp`), never `npx agent-relay`.
 * The workspace key never appears: launchConfigFor does not take one, and refuses a
 * token that is one. The agent token does (the MCP server acts as the agent); files
 * holding it should be written 0600 (writeLaunchFiles does).
 *
 * launchConfigFor is pure: nothing is checked on disk or PATH, so a CLI that is not
 * installed costs nothing.
 */
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { basename, delimiter, dirname, join, resolve } from 'node:path'

export const MCP_SERVER_KEY = 'agent-relay'

export interface LaunchOptions {
  /** The command's basename (`claude`, `/usr/bin/codex` and `codex.exe` are accepted too). */
  cli: string
  agentName: string
  /** The agent's `at_live_` token; absent when registration failed (the MCP server then says so). */
  token?: string
  baseUrl: string
  workspaceId: string
  /** A per-agent folder the app owns, for config files. */
  configDir: string
  /** Which tool calls run without asking (see the top of this file). Default `relay-tools`. */
  permissions?: AgentPermissions
  /** Whether we run as root (claude refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1). */
  isRoot?: boolean
  /** The MCP server writes this file when the CLI first lists its tools (RELAY_MCP_READY_FILE). */
  readyFile?: string
}

/**
 * `relay-tools`: only the relay's own MCP tools are pre-approved (default).
 * `skip-all`: the CLI asks for nothing (upstream agent-relay's behaviour).
 */
export type AgentPermissions = 'relay-tools' | 'skip-all'

export interface LaunchFile {
  path: string
  content: string
  /** Holds the agent token: write it owner-only. */
  mode: number
}

export interface LaunchConfig {
  /** To ADD to the user's args (before them). */
  args: string[]
  env: Record<string, string>
  files: LaunchFile[]
}

export interface McpServerSpec {
  command: string
  args: string[]
  env: Record<string, string>
}

let cachedRoot: string | undefined

/** The project folder holding bin/relay.mjs, found upward from this module (source tree or out/main). */
export function relayRoot(from: string = __dirname): string {
  if (cachedRoot && from === __dirname) return cachedRoot
  let dir = resolve(from)
  for (;;) {
    if (existsSync(join(dir, 'bin', 'relay.mjs')) && existsSync(join(dir, 'package.json'))) {
      if (from === __dirname) cachedRoot = dir
      return dir
    }
    const up = dirname(dir)
    if (up === dir) throw new Error(`cannot find bin/relay.mjs above ${from}`)
    dir = up
  }
}

/**
 * How this installation runs the `relay` program (CLI and MCP server), decided once:
 *
 * - Under Node (headless mode, `npm run serve`, development): `<node> bin/relay.mjs`,
 *   which loads the built out/main/relay.js.
 * - Inside Electron: the app's own binary with `--relay-cli`, handled by the main
 *   process before any window or lock (electron/main/relay-cli.ts). The RunAsNode fuse
 *   stays off: an app binary that runs any script it is handed (ELECTRON_RUN_AS_NODE) is
 *   a code-execution primitive for anything that can set its environment; `--relay-cli`
 *   only ever runs this one program. Packaged, the `relay` shell shim ships in
 *   resources/bin (extraResources); unpackaged, the app folder is passed first.
 *
 * `env` is what the bin/relay shim reads to pick the same way.
 */
export interface RelayInvocation {
  command: string
  /** Arguments before the relay program's own (`mcp`, `send …`). */
  args: string[]
  /** For the `relay` shim in an agent's environment. */
  env: Record<string, string>
  /** The folder holding the `relay` shim, for the agent's PATH. */
  binDir: string
}

export interface RuntimeFacts {
  execPath: string
  electron: boolean
  /** Electron run unpackaged (`electron .`): process.defaultApp. */
  defaultApp: boolean
  resourcesPath?: string
}

const currentRuntime = (): RuntimeFacts => ({
  execPath: process.execPath,
  electron: Boolean(process.versions.electron),
  defaultApp: Boolean((process as { defaultApp?: boolean }).defaultApp),
  resourcesPath: (process as { resourcesPath?: string }).resourcesPath,
})

export function relayInvocation(rt: RuntimeFacts = currentRuntime()): RelayInvocation {
  if (!rt.electron) {
    const root = relayRoot()
    return { command: rt.execPath, args: [join(root, 'bin', 'relay.mjs')], env: { RELAY_NODE: rt.execPath }, binDir: join(root, 'bin') }
  }
  if (rt.defaultApp) {
    const root = relayRoot()
    return { command: rt.execPath, args: [root, '--relay-cli'], env: { RELAY_APP_BIN: rt.execPath, RELAY_APP_PATH: root }, binDir: join(root, 'bin') }
  }
  const resources = rt.resourcesPath ?? dirname(rt.execPath)
  return { command: rt.execPath, args: ['--relay-cli'], env: { RELAY_APP_BIN: rt.execPath }, binDir: join(resources, 'bin') }
}

/** Absolute path of the folder holding the executable `relay` (put it first on the agent's PATH). */
export function relayBinDir(): string {
  return relayInvocation().binDir
}

/** Absolute path of bin/relay.mjs (what `relay` runs under Node). */
export function relayMjsPath(): string {
  return join(relayRoot(), 'bin', 'relay.mjs')
}

/** PATH with the relay bin folder first (once). */
export function withRelayOnPath(path: string | undefined, binDir: string = relayBinDir()): string {
  const parts = (path ?? '').split(delimiter).filter((p) => p && p !== binDir)
  return [binDir, ...parts].join(delimiter)
}

export function normalizeCli(cli: string): string {
  return basename(cli.trim().split(/\s+/)[0] ?? '')
    .toLowerCase()
    .replace(/\.(exe|cmd|bat|ps1)$/, '')
}

function checkToken(token: string | undefined): string | undefined {
  const t = token?.trim()
  if (!t) return undefined
  if (t.startsWith('rk_')) throw new Error('launchConfigFor: token must be the agent token (at_live_…), never the workspace key')
  return t
}

/** The environment every spawned agent gets for the `relay` command (what the broker sets too). */
export function relayAgentEnv(opts: LaunchOptions): Record<string, string> {
  const token = checkToken(opts.token)
  const env: Record<string, string> = {
    RELAY_BASE_URL: opts.baseUrl,
    RELAY_AGENT_NAME: opts.agentName,
    RELAY_AGENT_TYPE: 'agent',
    RELAY_STRICT_AGENT_NAME: '1',
    RELAY_WORKSPACE_ID: opts.workspaceId,
    RELAY_DEFAULT_WORKSPACE: opts.workspaceId,
    // How bin/relay (the sh shim) runs the program: RELAY_NODE, or RELAY_APP_BIN in the app.
    ...relayInvocation().env,
  }
  if (token) env.RELAY_AGENT_TOKEN = token
  return env
}

/** The MCP server entry (§2.6 shape): this installation's relay program with `mcp` (see relayInvocation). */
export function mcpServerSpec(opts: LaunchOptions, relay: RelayInvocation = relayInvocation()): McpServerSpec {
  const token = checkToken(opts.token)
  const env: Record<string, string> = {
    RELAY_BASE_URL: opts.baseUrl,
    RELAY_AGENT_NAME: opts.agentName,
    RELAY_AGENT_TYPE: 'agent',
    RELAY_STRICT_AGENT_NAME: '1',
  }
  if (token) {
    env.RELAY_AGENT_TOKEN = token
    env.RELAY_SKIP_BOOTSTRAP = '1'
  }
  env.RELAY_DEFAULT_WORKSPACE = opts.workspaceId
  if (opts.readyFile) env.RELAY_MCP_READY_FILE = opts.readyFile
  return { command: relay.command, args: [...relay.args, 'mcp'], env }
}

/** A TOML value for codex's `--config key=value` (JSON strings are valid TOML basic strings). */
export function toToml(value: string | string[] | Record<string, string>): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`
  const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k)} = ${JSON.stringify(v)}`)
  return `{ ${entries.join(', ')} }`
}

export function launchConfigFor(opts: LaunchOptions): LaunchConfig {
  const cli = normalizeCli(opts.cli)
  const env = relayAgentEnv(opts)
  const mcp = mcpServerSpec(opts)
  const skipAll = opts.permissions === 'skip-all'
  const fileMode = 0o600
  switch (cli) {
    case 'claude': {
      const args = ['--mcp-config', JSON.stringify({ mcpServers: { [MCP_SERVER_KEY]: mcp } })]
      if (skipAll) {
        // The settings key answers claude's bypass-mode warning, whose default choice exits.
        args.push('--dangerously-skip-permissions', '--settings', JSON.stringify({ skipDangerousModePermissionPrompt: true }))
        // As root claude refuses the flag unless told it runs in a sandbox.
        if (opts.isRoot) env.IS_SANDBOX = '1'
      } else {
        args.push('--allowedTools', `mcp__${MCP_SERVER_KEY}`)
      }
      return { args, env, files: [] }
    }
    case 'codex': {
      const key = `mcp_servers.${MCP_SERVER_KEY}`
      const args = [
        '--config', `${key}.command=${toToml(mcp.command)}`,
        '--config', `${key}.args=${toToml(mcp.args)}`,
        '--config', `${key}.env=${toToml(mcp.env)}`,
        '--config', `${key}.default_tools_approval_mode=${toToml('approve')}`,
        // Its app-server daemon would outlive the agent (and copy ~400 MB on first start).
        '--config', 'features.daemon_auto_start=false',
      ]
      if (skipAll) args.push('--dangerously-bypass-approvals-and-sandbox')
      return { args, env, files: [] }
    }
    case 'gemini': {
      const path = join(opts.configDir, 'gemini-system-defaults.json')
      // trust: our own server's tools run without a confirmation prompt per call.
      const content = `${JSON.stringify({ mcpServers: { [MCP_SERVER_KEY]: { ...mcp, trust: true } } }, null, 2)}\n`
      return {
        args: skipAll ? ['--approval-mode', 'yolo'] : [],
        env: { ...env, GEMINI_CLI_SYSTEM_DEFAULTS_PATH: path },
        files: [{ path, content, mode: fileMode }],
      }
    }
    case 'opencode': {
      const path = join(opts.configDir, 'opencode.json')
      const config: Record<string, unknown> = {
        $schema: 'https://opencode.ai/config.json',
        mcp: { [MCP_SERVER_KEY]: { type: 'local', command: [mcp.command, ...mcp.args], environment: mcp.env, enabled: true } },
      }
      if (skipAll) config.permission = 'allow'
      const content = `${JSON.stringify(config, null, 2)}\n`
      return { args: [], env: { ...env, OPENCODE_CONFIG: path }, files: [{ path, content, mode: fileMode }] }
    }
    default:
      return { args: [], env, files: [] }
  }
}

/** The nearest existing folder at or above `path` that is group- or world-writable (sticky or not), if any. */
export function insecureAncestor(path: string): string | undefined {
  for (let d = resolve(path); ; d = dirname(d)) {
    try {
      if (statSync(d).mode & 0o022) return d
    } catch {
      // not made yet: its parent decides
    }
    if (dirname(d) === d) return undefined
  }
}

/**
 * The private folder for an agent's config files. Gemini CLI skips a settings file below
 * any group/world-writable folder ("Security Warning: Skipping system defaults file … is
 * insecure") and the relay tools would silently vanish, so when the app's data folder
 * sits below one (a data dir in /tmp, a shared mount) the files go to a private folder in
 * the user's cache instead. `warn` says so, or that no private place was found.
 */
export function agentConfigDir(stateDir: string, agentName: string, warn: (msg: string) => void = () => undefined, home = homedir()): string {
  const safe = agentName.replace(/[^A-Za-z0-9_-]/g, '_')
  const preferred = join(stateDir, 'agents', safe)
  const bad = insecureAncestor(preferred)
  if (!bad) return preferred
  const key = createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 12)
  const fallback = join(home, '.cache', 'relay-desktop', 'agents', key, safe)
  const alsoBad = insecureAncestor(fallback)
  if (!alsoBad) {
    warn(`${bad} is writable by others, so ${agentName}'s config goes to ${fallback} (Gemini CLI ignores settings below such a folder)`)
    return fallback
  }
  warn(`${bad} and ${alsoBad} are writable by others: Gemini CLI will skip ${agentName}'s relay settings (make one of them private)`)
  return preferred
}

/** Write the files of a launch config: folders 0700, files 0600 (they hold the agent token). */
export function writeLaunchFiles(files: LaunchFile[]): void {
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true, mode: 0o700 })
    writeFileSync(f.path, f.content, { mode: f.mode })
    chmodSync(f.path, f.mode) // an existing file keeps its old mode otherwise
  }
}
