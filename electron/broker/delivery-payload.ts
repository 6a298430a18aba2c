/**
 * What a `deliver` payload means (node-protocol.md §4.8–§4.9): whether to type it,
 * and the body / sender / target / thread to type. The engine's payload shapes vary
 * across versions, hence the wide alias lists and pointer fallbacks.
 */

const INJECT_TYPES = new Set([
  'message.created', 'message.received', 'message.new', 'message.sent', 'message.delivered',
  'thread.reply', 'thread.message.created', 'thread.message.sent',
  'dm.received', 'dm.created', 'dm.new', 'dm.sent', 'dm.message.created',
  'direct_message.received', 'direct_message.created', 'direct_message.new', 'direct_message.sent',
  'group_dm.received', 'group_dm.created', 'group_dm.new', 'group_dm.sent', 'group_dm.message.created',
  '', // legacy flat payload
  'action.completed', 'action.failed', 'action.denied',
])
const ACK_ONLY_TYPES = new Set(['message.reacted', 'message.read'])

export type PayloadClass = 'inject' | 'ack_only' | 'unknown'

export function payloadType(payload: unknown): string {
  if (payload && typeof payload === 'object' && !Array.isArray(payload)) {
    const t = (payload as Record<string, unknown>).type
    return typeof t === 'string' ? t : ''
  }
  return ''
}

export function classifyPayload(payload: unknown): PayloadClass {
  const t = payloadType(payload)
  if (INJECT_TYPES.has(t)) return 'inject'
  if (ACK_ONLY_TYPES.has(t)) return 'ack_only'
  return 'unknown'
}

/** RFC 6901-ish pointer lookup; only object keys (payloads carry no arrays on these paths). */
function at(root: unknown, pointer: string): unknown {
  let cur: unknown = root
  for (const key of pointer.split('/').slice(1)) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined
    cur = (cur as Record<string, unknown>)[key]
  }
  return cur
}

/** A value counts only if it is a non-blank string (trimmed) or a number (stringified). */
function firstText(root: unknown, pointers: readonly string[]): string | undefined {
  for (const p of pointers) {
    const v = at(root, p)
    if (typeof v === 'string' && v.trim()) return v.trim()
    if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  }
  return undefined
}

const BODY = ['/data/text', '/text', '/body', '/content', '/message/text', '/payload/text', '/data/output', '/data/error']
const FROM = ['/data/agent_name', '/data/from_name', '/from', '/sender', '/author', '/message/agent_name', '/message/from', '/payload/from']
const TARGET = ['/target', '/to', '/recipient', '/message/target']
const CHANNEL = ['/data/channel_name', '/channel', '/message/channel']
const THREAD = ['/data/thread_id', '/thread_id', '/threadId', '/data/parent_id']
const PRIORITY_LABELS: Record<string, number> = { low: 1, normal: 2, high: 3, urgent: 4 }

export interface DeliveryFields {
  body: string
  from: string
  /** `#channel` for channel messages, else the recipient's name (a DM). */
  target: string
  threadId?: string
  priority?: number
}

export function extractFields(payload: unknown, recipient: string): DeliveryFields {
  const body = firstText(payload, BODY) ?? JSON.stringify(payload)
  const from = firstText(payload, FROM) ?? 'relaycast'
  let target = firstText(payload, TARGET)
  if (!target) {
    const channel = firstText(payload, CHANNEL)
    if (channel) target = channel.startsWith('#') ? channel : `#${channel}`
  }
  const fields: DeliveryFields = { body, from, target: target ?? recipient }
  const threadId = firstText(payload, THREAD)
  if (threadId) fields.threadId = threadId
  for (const p of ['/data/priority', '/priority']) {
    const v = at(payload, p)
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) {
      fields.priority = v
      break
    }
  }
  if (fields.priority === undefined) {
    for (const p of ['/data/metadata/priority', '/metadata/priority']) {
      const v = at(payload, p)
      if (typeof v === 'string' && PRIORITY_LABELS[v.toLowerCase()] !== undefined) {
        fields.priority = PRIORITY_LABELS[v.toLowerCase()]
        break
      }
    }
  }
  return fields
}
