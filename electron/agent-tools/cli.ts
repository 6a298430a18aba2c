/**
 * The `relay` command: what an agent in a Relay Desktop terminal types to talk back.
 * Runs as the agent whose token is in its environment. `runCli` is the whole program
 * (testable in-process); the bottom of the file runs it when executed directly.
 *
 * Exit codes: 0 ok, 1 the engine said no, 2 usage, 3 credentials/config, 4 unreachable.
 */
import type { RelayClient } from './client'
import { EXIT, RelayToolError, usageError } from './errors'
import { formatInbox, formatMessage, formatObject, formatPosted, formatReply, formatSent, formatWho } from './format'

export const USAGE = `relay — talk to other agents through Agent Relay, as this agent

Usage:
  relay send <agent> <text…>              send a direct message
  relay post <#channel> <text…>           post to a channel
  relay reply <msg-id> <text…>            reply in the thread of a message
  relay inbox                             unread messages, and the latest DMs sent to you
  relay read <msg-id>                     show one message
  relay who                               the agents of the workspace and who is online
  relay spawn <cli> --name <name> [--task <text>] [--channel <#channel>]
                                          ask the workspace to start an agent
  relay release <name> [--reason <text>] stop an agent
  relay mcp                               run the Agent Relay MCP server on stdio
  relay help                              this text

Options:
  --json      print one JSON object on stdout ({"ok":true,"data":…} or {"ok":false,"error":…})
  -           as the text: read the text from stdin
  --          end of options (the rest is text, even if it starts with -)

Environment (every agent Relay Desktop spawns has these):
  RELAY_BASE_URL      the engine, e.g. http://127.0.0.1:8787
  RELAY_AGENT_TOKEN   this agent's token (at_live_…)
  RELAY_AGENT_NAME    this agent's name

Exit codes: 0 ok, 1 the engine refused (unknown agent, channel, message…),
            2 usage, 3 missing or rejected credentials, 4 engine unreachable
`

export interface CliIo {
  env: NodeJS.ProcessEnv
  stdout: (s: string) => void
  stderr: (s: string) => void
  readStdin: () => Promise<string>
}

interface Parsed {
  command: string | undefined
  positionals: string[]
  json: boolean
  help: boolean
  options: Record<string, string>
}

const VALUE_OPTIONS = new Set(['name', 'task', 'reason', 'channel'])

export function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { command: undefined, positionals: [], json: false, help: false, options: {} }
  let rest = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (rest || a === '-' || !a.startsWith('-')) {
      if (out.command === undefined) out.command = a
      else out.positionals.push(a)
      continue
    }
    if (a === '--') {
      rest = true
      continue
    }
    if (a === '--json') out.json = true
    else if (a === '-h' || a === '--help') out.help = true
    else {
      const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a)
      const key = m?.[1]
      if (!m || !key || !VALUE_OPTIONS.has(key)) throw usageError(`unknown option ${a} (put -- before text that starts with -)`)
      let value = m[2]
      if (value === undefined) {
        value = argv[++i]
        if (value === undefined) throw usageError(`${a} needs a value`)
      }
      out.options[key] = value
    }
  }
  return out
}

async function textOf(parts: string[], io: CliIo, what: string): Promise<string> {
  if (parts.length === 0) throw usageError(`missing ${what}`)
  if (parts.length === 1 && parts[0] === '-') {
    const text = (await io.readStdin()).replace(/\r?\n$/, '')
    if (text.trim() === '') throw usageError('stdin was empty; nothing to send')
    return text
  }
  return parts.join(' ')
}

function expectArgs(p: Parsed, min: number, max: number, usage: string): void {
  const n = p.positionals.length
  if (n < min || n > max) throw usageError(`usage: ${usage}`)
}

function noOptions(p: Parsed, allowed: string[] = []): void {
  for (const k of Object.keys(p.options)) if (!allowed.includes(k)) throw usageError(`relay ${p.command} does not take --${k}`)
}

type Outcome = { data: unknown; text: string }

async function dispatch(p: Parsed, io: CliIo): Promise<Outcome | 'mcp'> {
  const cmd = p.command
  // Loaded only when a command talks to the engine: `relay help` and usage errors stay
  // fast (the client's schemas are most of the start-up time).
  const client = async (): Promise<RelayClient> => (await import('./client')).RelayClient.fromEnv(io.env)
  switch (cmd) {
    case 'send': {
      noOptions(p)
      if (p.positionals.length < 1) throw usageError('usage: relay send <agent> <text…>')
      const [to, ...words] = p.positionals as [string, ...string[]]
      const text = await textOf(words, io, 'message text (usage: relay send <agent> <text…>)')
      const r = await (await client()).sendDm(to, text)
      return { data: r, text: formatSent(r) }
    }
    case 'post': {
      noOptions(p)
      if (p.positionals.length < 1) throw usageError('usage: relay post <#channel> <text…>')
      const [channel, ...words] = p.positionals as [string, ...string[]]
      const text = await textOf(words, io, 'message text (usage: relay post <#channel> <text…>)')
      const r = await (await client()).postMessage(channel, text)
      return { data: r, text: formatPosted(r) }
    }
    case 'reply': {
      noOptions(p)
      if (p.positionals.length < 1) throw usageError('usage: relay reply <msg-id> <text…>')
      const [id, ...words] = p.positionals as [string, ...string[]]
      const text = await textOf(words, io, 'reply text (usage: relay reply <msg-id> <text…>)')
      const r = await (await client()).reply(id, text)
      return { data: r, text: formatReply(r) }
    }
    case 'inbox': {
      noOptions(p)
      expectArgs(p, 0, 0, 'relay inbox')
      const r = await (await client()).inbox()
      return { data: r, text: formatInbox(r) }
    }
    case 'read': {
      noOptions(p)
      expectArgs(p, 1, 1, 'relay read <msg-id>')
      const r = await (await client()).readMessage(p.positionals[0] as string)
      return { data: r, text: formatMessage(r) }
    }
    case 'who': {
      noOptions(p)
      expectArgs(p, 0, 0, 'relay who')
      const r = await (await client()).who()
      return { data: r, text: formatWho(r) }
    }
    case 'spawn': {
      noOptions(p, ['name', 'task', 'channel'])
      expectArgs(p, 1, 1, 'relay spawn <cli> --name <name> [--task <text>]')
      const name = p.options.name
      if (!name) throw usageError('usage: relay spawn <cli> --name <name> [--task <text>] (the new agent needs a name)')
      const r = await (await client()).spawn({ cli: p.positionals[0] as string, name, task: p.options.task, channel: p.options.channel })
      return { data: r, text: formatObject(`asked the workspace to spawn ${name} (${p.positionals[0]})`, r) }
    }
    case 'release': {
      noOptions(p, ['reason'])
      expectArgs(p, 1, 1, 'relay release <name> [--reason <text>]')
      const name = p.positionals[0] as string
      const r = await (await client()).release(name, p.options.reason)
      return { data: r, text: formatObject(`released ${name.replace(/^@/, '')}`, r) }
    }
    case 'mcp':
      noOptions(p)
      expectArgs(p, 0, 0, 'relay mcp')
      return 'mcp'
    default:
      throw usageError(`unknown command "${cmd}"`)
  }
}

/** The whole program. Resolves to the exit code; never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let json = argv.includes('--json')
  try {
    const p = parseArgs(argv)
    json = p.json
    if (p.help || p.command === 'help' || p.command === undefined) {
      if (p.command === undefined && !p.help) {
        io.stderr(USAGE)
        return EXIT.usage
      }
      io.stdout(USAGE)
      return EXIT.ok
    }
    const outcome = await dispatch(p, io)
    if (outcome === 'mcp') {
      const { runMcpServer } = await import('./mcp')
      await runMcpServer({ env: io.env })
      return EXIT.ok
    }
    io.stdout(json ? `${JSON.stringify({ ok: true, data: outcome.data })}\n` : `${outcome.text}\n`)
    return EXIT.ok
  } catch (err) {
    const e =
      err instanceof RelayToolError
        ? err
        : new RelayToolError('remote', 'internal', `unexpected error: ${(err as Error)?.stack ?? String(err)}`)
    if (json) io.stdout(`${JSON.stringify({ ok: false, error: { code: e.code, kind: e.kind, message: e.message, exit_code: e.exitCode } })}\n`)
    else io.stderr(`relay: ${e.message}${e.kind === 'usage' ? '\nRun `relay help` for usage.' : ''}\n`)
    return e.exitCode
  }
}

export function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer | string) => chunks.push(typeof c === 'string' ? Buffer.from(c) : c))
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    stream.on('error', reject)
  })
}

/** The process entry: out/main/relay.js (relay-entry.ts) calls it, under Node or the app's --relay-cli. Exits the process. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const write = (stream: NodeJS.WriteStream) => (s: string) => void stream.write(s)
  const code = await runCli(argv, {
    env: process.env,
    stdout: write(process.stdout),
    stderr: write(process.stderr),
    readStdin: () => readAll(process.stdin),
  })
  // Leave once stdout has drained (pipes are asynchronous).
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
  process.exit(code)
}

if (/agent-tools[\\/]cli\.ts$/.test(process.argv[1] ?? '')) void main()
