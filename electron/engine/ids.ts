/**
 * Identifiers and secrets. IDs are `prefix + random` so they are unguessable and
 * sortable-enough for humans; tokens are only ever persisted as SHA-256 hashes so a
 * leaked database file does not leak credentials.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto'

/**
 * CSPRNG bytes drawn a page at a time: every post mints ids (message, conversation), and a
 * 12-byte randomBytes call per id was a measurable share of the hot path. Each byte is used once.
 */
const pool = Buffer.alloc(12 * 512)
let poolAt = pool.length

export function newId(prefix: string): string {
  if (poolAt + 12 > pool.length) {
    randomFillSync(pool)
    poolAt = 0
  }
  const id = prefix + pool.toString('hex', poolAt, poolAt + 12)
  poolAt += 12
  return id
}

/**
 * A message id: `msg_` + 12 hex digits of the time (ms) + 12 random hex digits, the shape
 * of `newId('msg_')`. Time-ordered on purpose: the message's rows (messages, deliveries,
 * read receipts, all keyed by it) land at the end of their indexes, so a commit rewrites a
 * few pages, not one random page per row and index.
 */
export function newMessageId(now: number = Date.now()): string {
  const random = newId('')
  return `msg_${Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12)}${random.slice(0, 12)}`
}

export type TokenKind = 'workspace' | 'agent' | 'node'

export const TOKEN_PREFIX: Record<TokenKind, string> = {
  workspace: 'rk_live_',
  agent: 'at_live_',
  node: 'nt_live_',
}

export function newToken(kind: TokenKind): string {
  return TOKEN_PREFIX[kind] + randomBytes(24).toString('base64url')
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

export function tokenKind(token: string): TokenKind | undefined {
  for (const kind of Object.keys(TOKEN_PREFIX) as TokenKind[]) {
    if (token.startsWith(TOKEN_PREFIX[kind])) return kind
  }
  return undefined
}

/** Delivery ids are derived, so re-inserting the same (message, recipient) is idempotent. */
export function deliveryId(messageId: string, agentId: string): string {
  return `del_${messageId}_${agentId}`
}

/** A node enrolled without an id gets a stable one derived from its workspace + name. */
export function deriveNodeId(workspaceId: string, name: string): string {
  return 'node_' + createHash('sha256').update(`${workspaceId}\0${name}`).digest('hex').slice(0, 32)
}

/**
 * Message id for a post carrying an Idempotency-Key: derived from (workspace, sender,
 * key) so a retried post (e.g. after the engine died before answering) finds the
 * message it already wrote instead of writing a second one.
 */
export function idempotentMessageId(workspaceId: string, senderId: string, key: string): string {
  return 'msg_' + createHash('sha256').update(`${workspaceId}\0${senderId}\0${key}`).digest('hex').slice(0, 24)
}
