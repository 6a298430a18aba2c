/**
 * The MCP server driven by the SDK's own client over stdio, started exactly the way
 * launchConfigFor tells claude to start it (command + args + env from --mcp-config).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { launchConfigFor, type McpServerSpec } from '../../electron/agent-tools/launch'
import { MCP_TOOL_NAMES } from '../../electron/agent-tools/mcp'
import { tempDir } from '../support/wait'
import { channelMessages, cleanEnv, inboxOf, world, type TestAgent, type World } from './helpers'

let w: World
let A: TestAgent
let B: TestAgent
const clients: Client[] = []

beforeAll(async () => {
  w = await world()
  A = await w.agent('mcp-alpha')
  B = await w.agent('mcp-bravo')
})
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined)
  await w?.close()
})

function claudeSpec(agent: TestAgent): McpServerSpec {
  const cfg = launchConfigFor({
    cli: 'claude', agentName: agent.name, token: agent.token, baseUrl: w.engine.url, workspaceId: w.workspaceId, configDir: tempDir('cfg'),
  })
  const json = JSON.parse(cfg.args[1] as string) as { mcpServers: Record<string, McpServerSpec> }
  return json.mcpServers['agent-relay'] as McpServerSpec
}

async function connect(spec: McpServerSpec, extraEnv: Record<string, string | undefined> = {}): Promise<{ client: Client; stderr: () => string }> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...cleanEnv(), ...spec.env, ...extraEnv })) if (v !== undefined) env[k] = v
  const transport = new StdioClientTransport({ command: spec.command, args: spec.args, env, cwd: tempDir('mcp-cwd'), stderr: 'pipe' })
  let err = ''
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  const client = new Client({ name: 'relay-desktop-test', version: '0.0.0' })
  clients.push(client)
  await client.connect(transport)
  return { client, stderr: () => err }
}

const textOf = (r: unknown): string =>
  ((r as { content?: Array<{ type: string; text?: string }> }).content ?? []).map((c) => c.text ?? '').join('\n')

const agentCount = async () => (await w.api.request('GET', '/v1/agents', { token: w.key, schema: z.array(z.looseObject({ name: z.string() })) })).length

describe('agent-relay MCP server', () => {
  it('lists exactly the tools the reminder names, sends a DM, replies, and reports failures as isError', async () => {
    const before = await agentCount()
    const { client } = await connect(claudeSpec(A))

    const tools = await client.listTools()
    expect(tools.tools.map((t) => t.name).sort()).toEqual([...MCP_TOOL_NAMES].sort())
    const sendDm = tools.tools.find((t) => t.name === 'send_dm')
    expect(sendDm?.inputSchema.required?.sort()).toEqual(['text', 'to'])

    // send_dm reaches the recipient's mailbox
    const text = `via-mcp-${Math.random().toString(36).slice(2)}`
    const sent = await client.callTool({ name: 'send_dm', arguments: { to: B.name, text } })
    expect(sent.isError).toBeFalsy()
    const id = /\[(msg_[A-Za-z0-9]+)\]/.exec(textOf(sent))?.[1]
    expect(id).toBeDefined()
    const inbox = await inboxOf(w, B)
    expect(inbox.unread_dms.find((d) => d.from === A.name)?.last_message).toMatchObject({ id, text })

    // post_message, reply_to_thread, check_inbox, list_agents, register_agent
    const posted = await client.callTool({ name: 'post_message', arguments: { channel: 'general', text: `${text}-chan` } })
    expect(posted.isError).toBeFalsy()
    expect((await channelMessages(w, 'general')).some((m) => m.text === `${text}-chan`)).toBe(true)

    const replied = await client.callTool({ name: 'reply_to_thread', arguments: { message_id: id, text: `${text}-again` } })
    expect(replied.isError).toBeFalsy()
    const replyId = /\[(msg_[A-Za-z0-9]+)\]/.exec(textOf(replied))?.[1] as string
    const reply = await w.api.request('GET', `/v1/messages/${replyId}`, { token: B.token, schema: z.looseObject({ text: z.string() }) })
    expect(reply.text).toBe(`${text}-again`)

    // check_inbox lists what others sent (A's own messages above are not unread for A).
    const toA = await w.api.sendDm(B.token, { to: A.name, text: `${text}-for-alpha` })
    const inboxText = textOf(await client.callTool({ name: 'check_inbox', arguments: {} }))
    expect(inboxText).toMatch(/^Unread:\n/)
    expect(inboxText).toContain(`  1 from ${B.name} — latest [${toA.message.id}]: ${text}-for-alpha`)

    const who = textOf(await client.callTool({ name: 'list_agents', arguments: {} }))
    expect(who).toContain(`${A.name} (you)`)
    expect(who).toContain(B.name)

    const reg = await client.callTool({ name: 'register_agent', arguments: { name: A.name, type: 'agent' } })
    expect(reg.isError).toBeFalsy()
    expect(textOf(reg)).toMatch(/already registered as "mcp-alpha"/)

    // failures are results, with the readable message — and the server lives on
    const unknown = await client.callTool({ name: 'send_dm', arguments: { to: 'nobody-at-all', text: 'x' } })
    expect(unknown.isError).toBe(true)
    expect(textOf(unknown)).toMatch(/no agent named "nobody-at-all"/)

    const invalid = await client.callTool({ name: 'send_dm', arguments: { to: B.name } })
    expect(invalid.isError).toBe(true)
    expect(textOf(invalid)).toMatch(/text/)

    const otherName = await client.callTool({ name: 'register_agent', arguments: { name: 'someone-else' } })
    expect(otherName.isError).toBe(true)
    expect(textOf(otherName)).toMatch(/already registered as "mcp-alpha"/)

    const spawn = await client.callTool({ name: 'spawn_agent', arguments: { name: 'helper', cli: 'claude', task: 'help' } })
    // whatever this engine supports, the answer is a result, not a crash
    expect(typeof textOf(spawn)).toBe('string')

    expect((await client.listTools()).tools).toHaveLength(MCP_TOOL_NAMES.length)
    // RELAY_SKIP_BOOTSTRAP=1 + a token: nothing was registered over HTTP
    expect(await agentCount()).toBe(before)
  })

  it('starts without configuration and says what is missing on every call', async () => {
    const spec = claudeSpec(A)
    const { client } = await connect(spec, { RELAY_BASE_URL: undefined, RELAY_AGENT_TOKEN: undefined })
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('send_dm')
    const r = await client.callTool({ name: 'send_dm', arguments: { to: B.name, text: 'hello' } })
    expect(r.isError).toBe(true)
    expect(textOf(r)).toMatch(/RELAY_BASE_URL is not set/)
  })
})

describe('readiness signal', () => {
  it('writes RELAY_MCP_READY_FILE when the CLI first lists the tools, not before', async () => {
    const dir = tempDir('mcp-ready')
    const file = join(dir, 'mcp-ready')
    const cfg = launchConfigFor({ cli: 'claude', agentName: A.name, token: A.token, baseUrl: w.engine.url, workspaceId: w.workspaceId, configDir: dir, readyFile: file })
    const spec = (JSON.parse(cfg.args[1] as string) as { mcpServers: Record<string, McpServerSpec> }).mcpServers['agent-relay'] as McpServerSpec
    expect(spec.env.RELAY_MCP_READY_FILE).toBe(file)
    const { client } = await connect(spec)
    expect(existsSync(file)).toBe(false) // initialized, but the tools were not listed yet
    await client.listTools()
    expect(Number(readFileSync(file, 'utf8'))).toBeGreaterThan(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })
})
