/** Actions: invoke (spawn placement) and invocation status. */
import { Hono } from 'hono'
import { z } from 'zod'
import { invocationView } from '../actions/service'
import type { EngineContext } from '../context'
import { parseBody } from '../http/body'
import { requireReader, type AppEnv } from '../http/auth'
import { ApiError, notFound, ok } from '../http/envelope'

const invokeSchema = z.object({
  input: z.record(z.string(), z.unknown()).optional(),
  invocation_id: z.string().min(1).max(200).optional(),
})

/** Only placement-backed actions exist in this engine: `spawn` and `spawn:<cli>`. */
const isSpawn = (name: string) => name === 'spawn' || /^spawn:[\w.-]+$/.test(name)

export function actionRoutes(ctx: EngineContext): Hono<AppEnv> {
  const { store } = ctx
  const app = new Hono<AppEnv>()
  const nodeName = async (id: string | null): Promise<string | null> => (id ? (await store.nodes.get(id))?.name ?? null : null)

  app.post('/actions/:name/invoke', async (c) => {
    const { workspace, agent } = requireReader(c)
    const name = c.req.param('name')
    if (!isSpawn(name)) throw new ApiError(404, 'action_not_found', `action "${name}" not found (this engine provides spawn)`)
    const body = await parseBody(c, invokeSchema)
    const key = c.req.header('idempotency-key') ?? body.invocation_id
    const { row, created } = (await ctx.actions.invoke({ workspaceId: workspace.id, callerId: agent?.id ?? null, actionName: name, input: body.input ?? {}, idempotencyKey: key }))
    return ok(c, await invocationView(row, nodeName), created ? 201 : 200)
  })

  app.get('/actions/:name/invocations/:id', async (c) => {
    const { workspace } = requireReader(c)
    const row = await store.invocations.get(workspace.id, c.req.param('id'))
    if (!row || row.actionName !== c.req.param('name')) throw notFound('invocation')
    return ok(c, await invocationView(row, nodeName))
  })

  return app
}
