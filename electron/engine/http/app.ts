/** The Hono app: envelope-wide error handling, body limit, auth, and the /v1 routes. */
import type { IncomingMessage } from 'node:http'
import { Hono, type MiddlewareHandler } from 'hono'
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

  app.use('*', limitBody(MAX_BODY_BYTES))
  app.use('*', authMiddleware(ctx.store, ctx.config.now))
  // Reads see every ack and delivery mark received so far (the writer batches them per turn).
  app.use('*', async (c, next) => {
    if (c.req.method === 'GET') await ctx.router.flushWrites()
    await next()
  })

  // For load balancers and operators: which instance answered, and whether it runs the sweeps.
  app.get('/health', (c) => ok(c, { status: 'ok', instance: ctx.router.bus.instanceId, leader: ctx.router.bus.isLeader() }))
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

/**
 * The body limit. A declared Content-Length is checked from node's parsed headers, which
 * leaves the request body to @hono/node-server's direct read (hono's bodyLimit touches
 * `c.req.raw.body`, which builds a full web Request and stream for every request, a
 * measurable cost per post); chunked uploads go through hono's counting reader.
 */
function limitBody(maxSize: number): MiddlewareHandler {
  const onError: Parameters<typeof bodyLimit>[0]['onError'] = (c) => fail(c, 413, 'payload_too_large', `request body exceeds ${maxSize} bytes`)
  const counting = bodyLimit({ maxSize, onError })
  return async (c, next) => {
    const headers = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.headers
    if (headers && headers['transfer-encoding'] === undefined) {
      const length = headers['content-length']
      if (length === undefined) return next()
      return Number.parseInt(length, 10) > maxSize ? onError(c) : next()
    }
    return counting(c, next)
  }
}
