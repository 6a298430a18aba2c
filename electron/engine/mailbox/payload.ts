/**
 * The event payload of a durable message (`payload` of a `deliver` frame, and of a
 * user-socket `message` frame): one builder so node and human clients agree.
 */
import type { AsyncStore, MailItem, MessageRow } from '../store/types'

export interface MessagePayload {
  type: 'message.created' | 'thread.reply' | 'dm.received' | 'group_dm.received'
  data: Record<string, unknown>
}

/** What the payload needs besides the message row (a MailItem carries it; else it is looked up). */
export type PayloadContext = Pick<MailItem, 'senderName' | 'channelName' | 'conversationKind'>

export function payloadOf(message: MessageRow, ctx: PayloadContext): MessagePayload {
  const data: Record<string, unknown> = {
    id: message.id,
    agent_id: message.agentId,
    agent_name: ctx.senderName,
    from_name: ctx.senderName,
    text: message.text,
    thread_id: message.threadId,
    injection_mode: message.mode,
    attachments: message.attachments,
    created_at: new Date(message.createdAt).toISOString(),
  }
  let type: MessagePayload['type']
  if (message.channelId) {
    data.channel_name = ctx.channelName ?? ''
    type = message.threadId ? 'thread.reply' : 'message.created'
  } else {
    data.conversation_id = message.conversationId
    type = message.threadId ? 'thread.reply' : ctx.conversationKind === 'group' ? 'group_dm.received' : 'dm.received'
  }
  return { type, data }
}

export async function messagePayload(store: AsyncStore, message: MessageRow): Promise<MessagePayload> {
  const conv = message.conversationId ? await store.mail.conversation(message.workspaceId, message.conversationId) : undefined
  return payloadOf(message, {
    senderName: (await store.agents.get(message.agentId))?.name ?? 'unknown',
    channelName: message.channelId ? (await store.channels.get(message.channelId))?.name ?? '' : null,
    conversationKind: conv?.kind ?? null,
  })
}
