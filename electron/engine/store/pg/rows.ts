/** PostgreSQL rows → the store's row types (the mappers are shared with SQLite: ../rows.ts), and pg-only helpers. */
import { pgRows } from '../rows'

export { optNum, optStr, str } from '../rows'
export const { toWorkspace, toNode, toAgent, toChannel, toMessage, toDelivery, toConversation, toFailure, toInvocation } = pgRows

/** A JS value as a JSONB parameter: always JSON text (pg would turn a JS array into a SQL array). */
export const jsonb = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v))

/** The message columns (not `pos` or `search_vector`). */
export const MESSAGE_COLUMNS = 'id, workspace_id, agent_id, channel_id, conversation_id, text, mode, attachments, thread_id, created_at'
export const messageColumns = (alias: string): string => MESSAGE_COLUMNS.split(', ').map((c) => `${alias}.${c}`).join(', ')

