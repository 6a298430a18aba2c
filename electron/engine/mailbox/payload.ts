/**
 * The event payload of a durable message (`payload` of a `deliver` frame, and of a
 * user-socket `message` frame): one builder so node and human clients agree.
 */
import type { MessageRow, Store } from '../store/types'

export interface MessagePayload {
  type: 'message.created' | 'thread.reply' | 'dm.received' | 'group_dm.received'
  data: Record<string, unknown>
}

export function messagePayload(store: Store, message: MessageRow): MessagePayload {
  const senderName = store.agents.get(message.agentId)?.name ?? 'unknown'
  const data: Record<string, unknown> = {
    id: message.id,
    agent_id: message.agentId,
    agent_name: senderName,
    from_name: senderName,
    text: message.text,
    thread_id: message.threadId,
    injection_mode: message.mode,
    attachments: message.attachments,
    created_at: new Date(message.createdAt).toISOString(),
  }
  let type: MessagePayload['type']
  if (message.channelId) {
    data.channel_name = store.channels.get(message.channelId)?.name ?? ''
    type = message.threadId ? 'thread.reply' : 'message.created'
  } else {
    data.conversation_id = message.conversationId
    const conv = message.conversationId ? store.mail.conversation(message.workspaceId, message.conversationId) : undefined
    type = message.threadId ? 'thread.reply' : conv?.kind === 'group' ? 'group_dm.received' : 'dm.received'
  }
  return { type, data }
}
