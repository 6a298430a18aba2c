/**
 * The text typed into an agent's terminal (node-protocol.md §5.3).
 *
 * Three profiles, chosen from the agent's command:
 * - `agent`: coding-agent CLIs get the relay line behind a reminder telling them how
 *   to reply (the full block on first delivery and then rarely, a one-line hint else);
 * - `plain`: other programs (cat, a REPL) get the relay line alone;
 * - `shell`: a shell gets the body alone, so a message is a command it runs. That is
 *   what a user who spawns `bash` as an agent asks for.
 */
import { basename } from 'node:path'
import type { DeliveryFields } from './delivery-payload'

export type InjectionProfile = 'agent' | 'plain' | 'shell'

const AGENT_CLIS = new Set(['claude', 'codex', 'gemini', 'aider', 'opencode', 'goose', 'droid', 'grok', 'cursor-agent', 'amp', 'qwen'])
/** CLIs that never get the reminder block (§5.3: cursor / `agent`). */
const NO_REMINDER_CLIS = new Set(['cursor', 'agent', 'cursor-agent'])
const SHELLS = new Set(['bash', 'sh', 'zsh', 'fish', 'dash', 'ksh'])

export function profileFor(command: string): InjectionProfile {
  const name = basename(command.trim().split(/\s+/)[0] ?? '').toLowerCase()
  if (SHELLS.has(name)) return 'shell'
  if (AGENT_CLIS.has(name) || NO_REMINDER_CLIS.has(name)) return 'agent'
  return 'plain'
}

export function cliName(command: string): string {
  return basename(command.trim().split(/\s+/)[0] ?? '').toLowerCase()
}

export interface FormatContext {
  eventId: string
  workspaceLabel?: string
  /** The agent's own name (RELAY_AGENT_NAME), for the remove_agent line. */
  agentName: string
  /** Whether the agent holds a token (pre-registered by the broker). */
  preRegistered: boolean
}

const stripHuman = (s: string): string => (s.startsWith('human:') ? s.slice('human:'.length) : s)

export function senderDisplay(from: string): string {
  const s = stripHuman(from)
  return /^broker-[A-Za-z0-9]+$/.test(s) ? 'Dashboard' : s
}

export function relayLine(fields: DeliveryFields, ctx: FormatContext): string {
  const body = fields.body
  // A body that is already a relay line (a forwarded message) is typed verbatim, but only
  // when it names its real sender: otherwise any agent could type "Relay message from you".
  if (body.trimStart().startsWith(`Relay message from ${senderDisplay(fields.from)} `)) return body.trim()
  const label = ctx.workspaceLabel ? `${ctx.workspaceLabel} / ${ctx.eventId}` : ctx.eventId
  const who = senderDisplay(fields.from)
  if (fields.target.startsWith('#')) return `Relay message from ${who} in ${fields.target} [${label}]: ${body}`
  return `Relay message from ${who} [${label}]: ${body}`
}

/** Channel to suggest for replies: the target, else one named in the line, else general. */
export function channelHint(fields: DeliveryFields, line: string): string {
  if (fields.target.startsWith('#')) return fields.target.slice(1)
  const m = /\[#([^\]\s]+)\]|\bin #([^\s:]+)/.exec(line)
  return m?.[1] ?? m?.[2] ?? 'general'
}

export function fullReminder(fields: DeliveryFields, ctx: FormatContext, line: string): string {
  const replyTo = stripHuman(fields.from)
  const channel = channelHint(fields, line)
  const registration = ctx.preRegistered
    ? [
        'You are pre-registered by the broker under your assigned worker name.',
        'Do not call mcp__agent-relay__register_agent unless a send/reply fails with "Not registered".',
      ]
    : [
        'This worker was not pre-registered by the broker.',
        `Before replying, call mcp__agent-relay__register_agent (name: "${ctx.agentName}", type: "agent").`,
      ]
  const lines = [
    '<system-reminder>',
    'Agent Relay MCP tools are available for replies.',
    ...registration,
    `- For direct replies to "${replyTo}", use mcp__agent-relay__send_dm or agent-relay.send_dm (to: "${replyTo}").`,
    `- For channel replies, use mcp__agent-relay__post_message or agent-relay.post_message (channel: "${channel}").`,
    '- For thread replies, use mcp__agent-relay__reply_to_thread or agent-relay.reply_to_thread.',
    '- To check unread messages/reactions, use mcp__agent-relay__check_inbox or agent-relay.check_inbox.',
    `- Self-termination is not automatic. Only call remove_agent(name: "${ctx.agentName}") or output /exit on its own line when explicitly instructed to terminate.`,
  ]
  if (ctx.workspaceLabel) {
    lines.push(`- This message belongs to workspace "${ctx.workspaceLabel}"; keep replies scoped to that workspace.`)
  }
  lines.push('</system-reminder>')
  return lines.join('\n')
}

export function shortHint(fields: DeliveryFields, ctx: FormatContext, line: string): string {
  const replyTo = stripHuman(fields.from)
  const channel = channelHint(fields, line)
  let hint =
    `<system-reminder>Reply via Agent Relay MCP: mcp__agent-relay__send_dm/agent-relay.send_dm (to: "${replyTo}") ` +
    `or mcp__agent-relay__post_message/agent-relay.post_message (channel: "${channel}").`
  if (!ctx.preRegistered) {
    hint += ` If unregistered, call mcp__agent-relay__register_agent(name: "${ctx.agentName}", type: "agent") first.`
  }
  return `${hint}</system-reminder>`
}

export const FULL_REMINDER_MIN_INTERVAL_MS = 300_000
export const FULL_REMINDER_MIN_OUTPUT_BYTES = 64 * 1024

/**
 * Decides full block vs short hint per agent: the full block first, later only when
 * ≥ 300 s and ≥ 64 KiB of output have passed since the last one (the agent's context
 * has probably scrolled it away).
 */
export class ReminderPolicy {
  private lastFullAt: number | undefined
  private outputSinceFull = 0

  constructor(
    private readonly cli: string,
    private readonly now: () => number = Date.now,
  ) {}

  noteOutput(bytes: number): void {
    this.outputSinceFull += bytes
  }

  useFullBlock(): boolean {
    if (NO_REMINDER_CLIS.has(this.cli)) return false
    if (this.lastFullAt === undefined) return true
    return (
      this.now() - this.lastFullAt >= FULL_REMINDER_MIN_INTERVAL_MS &&
      this.outputSinceFull >= FULL_REMINDER_MIN_OUTPUT_BYTES
    )
  }

  markFull(): void {
    this.lastFullAt = this.now()
    this.outputSinceFull = 0
  }
}

export function formatInjection(
  profile: InjectionProfile,
  fields: DeliveryFields,
  ctx: FormatContext,
  policy?: ReminderPolicy,
): string {
  if (profile === 'shell') return fields.body
  const line = relayLine(fields, ctx)
  if (profile === 'plain') return line
  if (policy && !policy.useFullBlock()) {
    // cursor/agent CLIs never get the block; they still get the hint.
    return `${shortHint(fields, ctx, line)}\n${line}`
  }
  policy?.markFull()
  return `${fullReminder(fields, ctx, line)}\n${line}`
}

// ESC sequences: CSI (incl. private/intermediate bytes), OSC/DCS/SOS/PM/APC strings up to
// BEL or ST, and two-byte escapes. C1 equivalents (U+009B CSI, U+009D OSC, …) likewise.
const ESC_SEQUENCE =
  /\x1b\[[0-?]*[ -/]*[@-~]?|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?|\x9b[0-?]*[ -/]*[@-~]?|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?/g
// C0 controls except \t and \n, DEL, and C1 controls. \r goes too: it would submit early.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g

/**
 * Make untrusted message text safe to type into a terminal: remove every escape sequence
 * (a message must not move the cursor, retitle the window, paste-bracket, or drive the
 * program's key bindings) and every control character except newline and tab. A message
 * with `\r` or `\x03` in it would otherwise submit a half line or interrupt the agent.
 */
export function sanitizeForTerminal(text: string): string {
  return text.replace(ESC_SEQUENCE, '').replace(CONTROL, '')
}
