/** POST /v1/workspaces: the only unauthenticated write; seeds #general. */
import { Hono } from 'hono'
import { z } from 'zod'
import type { EngineContext } from '../context'
import { parseBody } from '../http/body'
import { bearerToken, optionalPrincipal, type AppEnv } from '../http/auth'
import { ok } from '../http/envelope'
import { hashToken, newId, newToken } from '../ids'
import { iso } from '../views'

const createWorkspaceSchema = z.object({ name: z.string().trim().min(1).max(128) })

export function workspaceRoutes(ctx: EngineContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.post('/workspaces', async (c) => {
    const body = await parseBody(c, createWorkspaceSchema)
    const caller = optionalPrincipal(c)
    // Idempotent only for the holder of that workspace's key: a name is not a secret.
    if (caller?.kind === 'workspace' && caller.workspace.name === body.name) {
      const key = bearerToken(c.req.header('authorization')) ?? ''
      return ok(c, { workspace_id: caller.workspace.id, api_key: key, name: caller.workspace.name, created_at: iso(caller.workspace.createdAt) })
    }
    const now = ctx.config.now()
    const id = newId('ws_')
    const apiKey = newToken('workspace')
    await ctx.store.workspaces.create(
      { id, name: body.name, createdAt: now },
      hashToken(apiKey),
      { id: newId('ch_'), workspaceId: id, name: 'general', topic: 'General discussion', createdAt: now },
    )
    ctx.log('info', 'workspace created', { workspace_id: id })
    // created_at: @relaycast/sdk's createWorkspace schema requires it.
    return ok(c, { workspace_id: id, api_key: apiKey, name: body.name, created_at: iso(now) }, 201)
  })

  return app
}
