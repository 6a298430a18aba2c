/** The Hono app: envelope-wide error handling, body limit, auth, and the /v1 routes. */
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { MAX_BODY_BYTES, type EngineContext } from '../context'
import { actionRoutes } from '../routes/actions'
import { agentRoutes } from '../routes/agents'
import { channelRoutes } from '../routes/channels'
import { messageRoutes } from '../routes/messages'
import { nodeRoutes } from '../routes/nodes'
import { workspaceRoutes } from '../routes/workspaces'
import { authMiddleware, type AppEnv } from './auth'
import { ApiError, fail, ok } from './envelope'

export function buildApp(ctx: EngineContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => fail(c, 413, 'payload_too_large', `request body exceeds ${MAX_BODY_BYTES} bytes`),
    }),
  )
  app.use('*', authMiddleware(ctx.store, ctx.config.now))

  app.get('/health', (c) => ok(c, { status: 'ok' }))
  // The node socket lives on the HTTP server's upgrade event; a plain GET lands here.
  app.get('/v1/node/ws', (c) => fail(c, 426, 'upgrade_required', 'this endpoint only accepts WebSocket upgrades'))

  app.route('/v1', workspaceRoutes(ctx))
  app.route('/v1', nodeRoutes(ctx))
  app.route('/v1', agentRoutes(ctx))
  app.route('/v1', channelRoutes(ctx))
  app.route('/v1', messageRoutes(ctx))
  app.route('/v1', actionRoutes(ctx))

  app.notFound((c) => fail(c, 404, 'not_found', `no route for ${c.req.method} ${c.req.path}`))
  app.onError((err, c) => {
    if (err instanceof ApiError) return fail(c, err.status, err.code, err.message)
    ctx.log('error', 'unhandled route error', { path: c.req.path, error: String(err) })
    return fail(c, 500, 'internal_error', 'internal error')
  })

  return app
}
