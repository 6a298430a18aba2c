/**
 * Everything an agent's process is started with, besides its command line: the
 * environment (the relay identity, the `relay` command on PATH, no inherited CI markers
 * for agent CLIs), and for the CLIs that get the relay MCP server, its launch flags and
 * config files (agent-tools/launch) in a private folder, plus the readiness signal the
 * first message waits for (the CLI has listed the relay tools).
 */
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { agentConfigDir, launchConfigFor, withRelayOnPath, writeLaunchFiles, type AgentPermissions } from '../agent-tools/launch'
import { waitForFile } from './files'
import { cliName, profileFor } from './injection-format'

/** The CLIs whose launch config carries the relay MCP server (agent-tools/launch). */
const RELAY_MCP_CLIS = new Set(['claude', 'codex', 'gemini', 'opencode'])
/** How long the first message waits for a CLI to list the relay tools before it is typed anyway. */
export const TOOLS_READY_TIMEOUT_MS = 20_000

export interface AgentLaunchInput {
  name: string
  command: string
  /** The agent's token from agent.register (absent when registration gave none). */
  token?: string
  baseUrl: string
  workspaceId: string
  stateDir: string
  /** process.env merged with the broker's and the host's extra agent environment. */
  baseEnv: NodeJS.ProcessEnv
  permissions: AgentPermissions
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void
}

export interface AgentLaunch {
  env: Record<string, string>
  /** To put before the user's own arguments. */
  args: string[]
  /** Resolves true once the CLI listed the relay tools (false after the timeout); cancel on exit. */
  toolsReady?: { done: Promise<boolean>; cancel: () => void }
}

export function prepareAgentLaunch(i: AgentLaunchInput): AgentLaunch {
  const env: Record<string, string> = {}
  const agentCli = profileFor(i.command) === 'agent'
  for (const [k, v] of Object.entries(i.baseEnv)) {
    if (v === undefined || k === 'CLAUDECODE') continue
    // An agent CLI in a PTY is interactive. Inherited CI markers make some of them run
    // headless instead: Gemini CLI under CI=true exits 42 ("no input provided").
    if (agentCli && (k === 'CI' || k === 'CONTINUOUS_INTEGRATION' || k.startsWith('CI_'))) continue
    env[k] = v
  }
  Object.assign(env, {
    RELAY_BASE_URL: i.baseUrl,
    RELAY_AGENT_NAME: i.name,
    RELAY_AGENT_TOKEN: i.token ?? '',
    RELAY_AGENT_TYPE: 'agent',
    RELAY_STRICT_AGENT_NAME: '1',
    RELAY_WORKSPACE_ID: i.workspaceId,
    RELAY_DEFAULT_WORKSPACE: i.workspaceId,
    TERM: 'xterm-256color',
    // Every agent can answer with the `relay` command, whatever the user's PATH.
    PATH: withRelayOnPath(env.PATH),
  })
  const cli = cliName(i.command)
  // Only CLIs that get the relay MCP server have config files (and the private-folder check).
  const relayMcp = RELAY_MCP_CLIS.has(cli)
  const configDir = relayMcp ? agentConfigDir(i.stateDir, i.name, (m) => i.log('warn', m)) : join(i.stateDir, 'agents')
  const readyFile = relayMcp ? join(configDir, 'mcp-ready') : undefined
  let toolsReady: AgentLaunch['toolsReady']
  let args: string[] = []
  try {
    if (readyFile) {
      mkdirSync(configDir, { recursive: true, mode: 0o700 })
      rmSync(readyFile, { force: true })
      toolsReady = waitForFile(readyFile, TOOLS_READY_TIMEOUT_MS)
    }
    const launch = launchConfigFor({
      readyFile,
      cli: i.command,
      agentName: i.name,
      token: i.token,
      baseUrl: i.baseUrl,
      workspaceId: i.workspaceId,
      configDir,
      permissions: i.permissions,
      isRoot: process.getuid?.() === 0,
    })
    writeLaunchFiles(launch.files)
    Object.assign(env, launch.env)
    args = launch.args
  } catch (err) {
    i.log('warn', `no relay launch config for ${i.name}: ${(err as Error).message}`)
  }
  return { env, args, toolsReady }
}
