/**
 * Agent tools: how an agent in a Relay Desktop terminal talks back — the client, the
 * `relay` command, the MCP server, and the per-CLI launch configuration.
 */
export { parseRelayEnv, relayEnvSchema, RelayClient, type RelayClientOptions, type RelayEnv, type InboxResult, type WhoResult } from './client'
export { EXIT, RelayToolError, explainError } from './errors'
export { runCli, USAGE } from './cli'
export { createMcpServer, runMcpServer, MCP_SERVER_NAME, MCP_TOOL_NAMES } from './mcp'
export {
  launchConfigFor,
  mcpServerSpec,
  normalizeCli,
  relayAgentEnv,
  relayBinDir,
  relayMjsPath,
  relayRoot,
  withRelayOnPath,
  writeLaunchFiles,
  MCP_SERVER_KEY,
  type LaunchConfig,
  type LaunchFile,
  type LaunchOptions,
} from './launch'
