/**
 * A second real client: @relaycast/sdk 6.0.2 (as published) drives our engine's REST
 * through its own HTTP client (envelope parsing, camelCasing, error mapping):
 * workspace, agents, DMs, group DMs, channels, threads, inbox, read state, search.
 */
import { RelayCast, RelayError } from '@relaycast/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestEngine, type Harness } from '../engine/helpers'

let h: Harness
beforeAll(async () => {
  h = await startTestEngine()
})
afterAll(async () => {
  await h?.stop()
})

/** No retries: a bad answer must fail the test, not be papered over. */
const noRetry = { maxRetries: 0 }

describe('@relaycast/sdk 6.0.2 against our engine', () => {
  it('workspace, agents, DMs, channels, threads, inbox, read state, search', async () => {
    const created = await RelayCast.createWorkspace('sdk-team', { baseUrl: h.url })
    expect(created.workspaceId).toMatch(/^ws_/)
    expect(created.apiKey).toMatch(/^rk_live_/)
    expect(typeof created.createdAt).toBe('string')

    const relay = new RelayCast({ apiKey: created.apiKey as string, baseUrl: h.url, retryPolicy: noRetry })
    const alice = await relay.agents.register({ name: 'alice', type: 'agent' })
    const bob = await relay.agents.register({ name: 'bob', type: 'agent' })
    expect(alice).toMatchObject({ name: 'alice', status: 'active' })
    expect(alice.token).toMatch(/^at_live_/)
    // A taken name is the SDK's name-conflict error (409 agent_already_exists).
    await expect(relay.agents.register({ name: 'alice' })).rejects.toBeInstanceOf(RelayError)
    // registerOrRotate: conflict → get → rotate-token, the SDK's own recovery path.
    const rotated = await relay.registerOrRotate({ name: 'bob' })
    expect(rotated.id).toBe(bob.id)
    expect(rotated.token).not.toBe(bob.token)

    const listed = await relay.agents.list()
    expect(listed.map((a: { name: string }) => a.name)).toEqual(['alice', 'bob'])
    expect((await relay.agents.get('alice')).id).toBe(alice.id)

    const a = relay.as(alice.token)
    const b = relay.as(rotated.token)
    expect((await a.me()).name).toBe('alice')
    await expect(relay.as(bob.token).me()).rejects.toBeInstanceOf(RelayError) // the old token died with the rotation

    // DMs
    const dm = await a.dm('bob', 'hello bob from the sdk')
    expect(dm.conversationId).toMatch(/^conv_/)
    const convs = await b.dms.conversations()
    expect(convs.map((c: { id: string }) => c.id)).toContain(dm.conversationId)
    const dmMessages = await b.dms.messages(dm.conversationId)
    expect(dmMessages.map((m: { text: string }) => m.text)).toEqual(['hello bob from the sdk'])
    const inbox = await b.inbox()
    expect(inbox.unreadDms).toEqual([expect.objectContaining({ conversationId: dm.conversationId, unreadCount: 1 })])
    await b.markRead(dm.message.id)
    expect((await b.inbox()).unreadDms).toEqual([])
    expect((await a.readers(dm.message.id)).map((r: { agentName: string }) => r.agentName)).toEqual(['bob'])

    // Group DM
    const carol = await relay.agents.register({ name: 'carol' })
    const group = await a.dms.createGroup({ participants: ['bob', 'carol'], name: 'trio' })
    const posted = await a.dms.sendMessage(group.id, 'hi both')
    expect(posted.message.text).toBe('hi both')
    expect(posted.conversationId).toBe(group.id)
    const c = relay.as(carol.token)
    expect((await c.dms.messages(group.id)).map((m: { text: string }) => m.text)).toEqual(['hi both'])

    // Channels, threads
    const ops = await a.channels.create({ name: 'ops', topic: 'operations' })
    expect(ops.name).toBe('ops')
    await b.channels.join('ops')
    expect((await a.channels.members('ops')).map((m: { agentName: string }) => m.agentName)).toEqual(['alice', 'bob'])
    const msg = await a.send('#ops', 'deploy at noon')
    const reply = await b.reply(msg.id, 'ack, noon works')
    expect(reply.threadId).toBe(msg.id)
    const thread = await a.thread(msg.id)
    expect(thread.parent.id).toBe(msg.id)
    expect(thread.replies.map((r: { text: string }) => r.text)).toEqual(['ack, noon works'])
    expect((await b.messages('ops')).map((m: { text: string; replyCount: number }) => [m.text, m.replyCount])).toEqual([['deploy at noon', 1]])
    expect((await b.inbox()).unreadChannels).toEqual([{ channelName: 'ops', unreadCount: 1 }])
    const channels = await a.channels.list()
    expect(channels.map((ch: { name: string }) => ch.name)).toEqual(['general', 'ops'])
    await b.channels.leave('ops')
    expect((await a.channels.members('ops')).map((m: { agentName: string }) => m.agentName)).toEqual(['alice'])

    // Search (FTS5): channel messages for everyone, DMs only for participants.
    expect((await b.search('noon')).map((m: { text: string }) => m.text).sort()).toEqual(['ack, noon works', 'deploy at noon'])
    expect((await c.search('sdk')).length).toBe(0)
    expect((await b.search('sdk')).map((m: { text: string }) => m.text)).toEqual(['hello bob from the sdk'])
    expect((await b.search('noon', { from: 'alice' })).map((m: { text: string }) => m.text)).toEqual(['deploy at noon'])

    // Presence: bob called in recently (any authenticated call counts).
    const presence = await relay.agents.presence()
    expect(presence.find((x) => x.agentName === 'bob')).toMatchObject({ agentId: bob.id, status: 'online' })

    // Errors come back as RelayError (the SDK normalises our agent_not_found to not_found).
    const err = await a.dm('nobody', 'x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RelayError)
    expect((err as RelayError).code).toBe('not_found')
    expect((err as RelayError).message).toContain('nobody')
  })
})
