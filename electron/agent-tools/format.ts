/** Human-readable text for the results of the client: the `relay` command prints it, the MCP tools return it. */
import type { InboxResult, PostedResult, RelayMessage, ReplyResult, SentResult, WhoResult } from './client'

const oneLine = (s: string, max = 200): string => {
  const flat = s.replace(/\s*\n\s*/g, ' ⏎ ')
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}

const sender = (m: RelayMessage): string => m.agent_name ?? m.from_name ?? 'unknown'

export function formatSent(r: SentResult): string {
  return `sent to ${r.to} [${r.id}]`
}

export function formatPosted(r: PostedResult): string {
  return `posted to #${r.channel} [${r.id}]`
}

export function formatReply(r: ReplyResult): string {
  if (r.via === 'dm') return `replied to ${r.parent_id} as a DM to ${r.to} [${r.id}] (this engine has no thread replies)`
  return `replied in the thread of ${r.parent_id} [${r.id}]`
}

export function formatMessage(m: RelayMessage): string {
  const where = m.channel_name ? ` in #${m.channel_name}` : m.conversation_id ? ' (direct message)' : ''
  const lines = [`${m.id} from ${sender(m)}${where}${m.created_at ? ` at ${m.created_at}` : ''}`]
  if (m.thread_id) lines.push(`in the thread of ${m.thread_id}`)
  lines.push('', m.text)
  return lines.join('\n')
}

export function formatInbox(r: InboxResult): string {
  const out: string[] = []
  const unreadDms = r.unread_dms.filter((d) => d.unread_count > 0)
  const unreadCh = r.unread_channels.filter((c) => c.unread_count > 0)
  if (!unreadDms.length && !unreadCh.length && !r.mentions.length) out.push('No unread messages.')
  else {
    out.push('Unread:')
    for (const d of unreadDms) {
      const last = d.last_message
      out.push(`  ${d.unread_count} from ${d.from ?? (last ? sender(last) : '?')}${last ? ` — latest [${last.id}]: ${oneLine(last.text)}` : ''}`)
    }
    for (const c of unreadCh) out.push(`  ${c.unread_count} in #${c.channel_name}`)
    if (r.mentions.length) out.push(`  ${r.mentions.length} mention(s)`)
  }
  if (r.recent.length) {
    out.push('', 'Recent direct messages to you (newest first):')
    for (const m of r.recent) out.push(`  [${m.id}] ${sender(m)}: ${oneLine(m.text)}${m.thread_id ? `  (in the thread of ${m.thread_id})` : ''}`)
    out.push('', 'Reply with: relay reply <msg-id> <text>   or   relay send <agent> <text>')
  }
  return out.join('\n')
}

export function formatWho(r: WhoResult): string {
  if (!r.agents.length) return 'No agents in this workspace.'
  const rows = r.agents.map((a) => {
    const state = a.online === undefined ? (a.status ?? '') : a.online ? 'online' : 'offline'
    return [a.me ? `${a.name} (you)` : a.name, a.type ?? '', state, a.node ? `node ${a.node}` : '']
  })
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)))
  const lines = rows.map((row) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] ?? 0) : cell)).join('  ').trimEnd())
  if (r.presence === 'unsupported') lines.push('(this engine has no presence endpoint; status is the registration status)')
  return lines.join('\n')
}

export function formatObject(label: string, o: Record<string, unknown>): string {
  const parts = Object.entries(o)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
  return parts.length ? `${label} (${parts.join(', ')})` : label
}
