/**
 * Channel membership and posting over the engine's REST API, as a given identity (the
 * human user, or an agent joining the channels it was spawned with).
 */
import { z } from 'zod'
import { EngineApiError, type EngineApi } from '../broker'

const anyData = z.unknown()
const posted = z.object({ id: z.string() }).passthrough()

const path = (name: string) => `/v1/channels/${encodeURIComponent(name.replace(/^#/, ''))}`

/** Join `#name` as the token's agent, creating the channel when it doesn't exist yet. */
export async function joinChannel(api: EngineApi, token: string, name: string): Promise<void> {
  try {
    await api.request('POST', `${path(name)}/join`, { token, schema: anyData })
  } catch (err) {
    if (!(err instanceof EngineApiError && err.status === 404)) throw err
    try {
      // The creator joins as part of creating it.
      await api.request('POST', '/v1/channels', { token, body: { name: name.replace(/^#/, '') }, schema: anyData })
    } catch (created) {
      // Someone else created it in between: join that one.
      if (!(created instanceof EngineApiError && created.status === 409)) throw created
      await api.request('POST', `${path(name)}/join`, { token, schema: anyData })
    }
  }
}

/** Post to a channel as the token's agent; joins (or creates) it first. Returns the message id. */
export async function postToChannel(api: EngineApi, token: string, name: string, text: string): Promise<string> {
  await joinChannel(api, token, name)
  const msg = await api.request('POST', `${path(name)}/messages`, { token, body: { text }, schema: posted })
  return msg.id
}
