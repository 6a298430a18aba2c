/**
 * The Agent Relay MCP server (stdio): the tools the injected reminder names
 * (node-protocol.md §5.3) — send_dm, post_message, reply_to_thread, check_inbox,
 * register_agent, remove_agent — plus list_agents and spawn_agent, over the same
 * RelayClient as the `relay` command.
 *
 * A failing call is an `isError` result carrying the readable message, never a crash;
 * a server started without usable configuration still starts and says what is missing
 * on every call (an agent CLI shows a dead MCP server with no reason at all).
 *
 * Bootstrap: with a token in the environment nothing is registered (the broker already
 * did; §2.6's RELAY_SKIP_BOOTSTRAP=1 says the same). Only without a token, with a
 * workspace key and RELAY_SKIP_BOOTSTRAP unset, does it register RELAY_AGENT_NAME.
 * Logs go to stderr; stdout is the protocol.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { writeFileSync } from 'node:fs'
import type { Readable, Writable } from 'node:stream'
import { z } from 'zod'
import { parseRelayEnv, RelayClient, type RelayEnv } from './client'
import { RelayToolError } from './errors'
import { formatInbox, formatObject, formatPosted, formatReply, formatSent, formatWho } from './format'

export const MCP_SERVER_NAME = 'agent-relay'
export const MCP_TOOL_NAMES = [
  'send_dm',
  'post_message',
  'reply_to_thread',
  'check_inbox',
  'register_agent',
  'remove_agent',
  'list_agents',
  'spawn_agent',
] as const

const textResult = (text: string): CallToolResult => ({ content: [{ type: 'text', text }] })
const errorResult = (text: string): CallToolResult => ({ content: [{ type: 'text', text }], isError: true })

export interface McpServerOptions {
  env?: NodeJS.ProcessEnv
  /** Test seam / embedding: a ready client instead of one built from env. */
  client?: RelayClient
  log?: (msg: string) => void
}

/** Build the server with every tool registered; connect it to a transport yourself, or use runMcpServer. */
export function createMcpServer(opts: McpServerOptions = {}): { server: McpServer; ready: Promise<void> } {
  const log = opts.log ?? ((msg: string) => void process.stderr.write(`[agent-relay mcp] ${msg}\n`))
  let client: RelayClient | undefined = opts.client
  let env: RelayEnv | undefined
  let configError: RelayToolError | undefined
  if (!client) {
    try {
      env = parseRelayEnv(opts.env ?? process.env)
      client = RelayClient.fromEnv(opts.env ?? process.env)
    } catch (err) {
      configError = err instanceof RelayToolError ? err : new RelayToolError('auth', 'config_invalid', String(err))
      log(configError.message)
    }
  }

  // Bootstrap only when there is no token to use (never with RELAY_SKIP_BOOTSTRAP=1).
  let ready = Promise.resolve()
  if (client && env && !client.hasToken && !env.skipBootstrap && env.workspaceKey && env.agentName) {
    const c = client
    ready = c
      .register(env.agentName, env.agentType)
      .then((r) => log(r.message))
      .catch((err: unknown) => log(`bootstrap registration failed: ${(err as Error).message}`))
  }

  const server = new McpServer(
    { name: MCP_SERVER_NAME, version: '0.1.0' },
    {
      instructions:
        'Agent Relay: message other agents and people of this workspace. Replies to a relay message: send_dm (to the sender) ' +
        'or reply_to_thread (message_id from the [workspace / msg_…] label). check_inbox lists unread and recent messages.',
    },
  )

  const tool = <S extends z.ZodRawShape>(
    name: (typeof MCP_TOOL_NAMES)[number],
    description: string,
    shape: S,
    run: (c: RelayClient, args: z.infer<z.ZodObject<S>>) => Promise<string>,
  ): void => {
    server.registerTool(name, { description, inputSchema: shape }, (async (args: z.infer<z.ZodObject<S>>) => {
      if (configError || !client) return errorResult((configError ?? new Error('not configured')).message)
      try {
        await ready
        return textResult(await run(client, args))
      } catch (err) {
        const message = err instanceof RelayToolError ? err.message : `unexpected error: ${(err as Error)?.message ?? String(err)}`
        if (!(err instanceof RelayToolError)) log(`${name}: ${(err as Error)?.stack ?? String(err)}`)
        return errorResult(message)
      }
    }) as never)
  }

  const text = z.string().min(1).describe('the message text')

  tool(
    'send_dm',
    'Send a direct message to another agent (or a person) of this workspace, by name.',
    { to: z.string().min(1).describe('recipient agent name, e.g. "alice"'), text },
    async (c, a) => formatSent(await c.sendDm(a.to, a.text)),
  )
  tool(
    'post_message',
    'Post a message to a channel of this workspace.',
    { channel: z.string().min(1).describe('channel name, with or without #, e.g. "general"'), text },
    async (c, a) => formatPosted(await c.postMessage(a.channel, a.text)),
  )
  tool(
    'reply_to_thread',
    'Reply in the thread of a message, by its id (msg_…, shown in the relay message label).',
    { message_id: z.string().min(1).describe('id of the message to reply to, e.g. "msg_…"'), text },
    async (c, a) => formatReply(await c.reply(a.message_id, a.text)),
  )
  tool(
    'check_inbox',
    'List unread direct messages and channels, and the latest direct messages sent to you.',
    {},
    async (c) => formatInbox(await c.inbox()),
  )
  tool(
    'register_agent',
    'Register this session as an agent. Agents spawned by Relay Desktop are pre-registered: this then only confirms the name.',
    {
      name: z.string().optional().describe('agent name; defaults to RELAY_AGENT_NAME'),
      type: z.enum(['agent', 'human', 'system']).optional(),
    },
    async (c, a) => (await c.register(a.name, a.type ?? 'agent')).message,
  )
  tool(
    'remove_agent',
    'Release (stop) an agent by name. Only remove yourself when explicitly told to terminate.',
    { name: z.string().min(1).describe('name of the agent to release'), reason: z.string().optional() },
    async (c, a) => formatObject(`released ${a.name}`, await c.release(a.name, a.reason)),
  )
  tool('list_agents', 'List the agents of this workspace and whether they are online.', {}, async (c) => formatWho(await c.who()))
  tool(
    'spawn_agent',
    'Ask the workspace to start a new agent running the given CLI (claude, codex, gemini, bash, …).',
    {
      name: z.string().min(1).describe('name for the new agent'),
      cli: z.string().min(1).describe('the CLI to run, e.g. "claude"'),
      task: z.string().optional().describe('what the new agent should do'),
      channel: z.string().optional(),
    },
    async (c, a) => formatObject(`asked the workspace to spawn ${a.name} (${a.cli})`, await c.spawn(a)),
  )

  return { server, ready }
}

/**
 * Tell the broker the agent's CLI has listed our tools (RELAY_MCP_READY_FILE, written
 * once on the first `tools/list`). A CLI answers messages with the relay tools only
 * after that: Claude Code, for one, takes a prompt about a second before its MCP
 * servers are up and sends that turn to the model without them.
 */
function announceToolsListed(transport: StdioServerTransport, file: string | undefined): void {
  if (!file) return
  const inner = transport.onmessage
  let done = false
  transport.onmessage = (message) => {
    inner?.(message)
    if (done || !('method' in message) || message.method !== 'tools/list') return
    done = true
    try {
      writeFileSync(file, `${Date.now()}\n`, { mode: 0o600 })
    } catch (err) {
      process.stderr.write(`[agent-relay mcp] could not write ${file}: ${(err as Error).message}\n`)
    }
  }
}

/** Serve on stdio until the client goes away. */
export async function runMcpServer(opts: McpServerOptions & { stdin?: Readable; stdout?: Writable } = {}): Promise<void> {
  const { server } = createMcpServer(opts)
  const transport = new StdioServerTransport(opts.stdin, opts.stdout)
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = () => resolve()
    ;(opts.stdin ?? process.stdin).once('end', () => resolve())
  })
  await server.connect(transport)
  announceToolsListed(transport, (opts.env ?? process.env).RELAY_MCP_READY_FILE)
  await closed
  await server.close().catch(() => undefined)
}
