/**
 * Bearer auth. The middleware only *resolves* the token (so unknown routes still
 * answer 404, not 401); each route then states which kind of caller it accepts.
 * Tokens are looked up by SHA-256 hash, never stored in clear.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { hashToken, tokenKind } from '../ids'
import type { AgentRow, AsyncStore, NodeRow, WorkspaceRow } from '../store/types'
import { ApiError } from './envelope'

export type Principal =
  | { kind: 'workspace'; workspace: WorkspaceRow }
  | { kind: 'agent'; workspace: WorkspaceRow; agent: AgentRow }
  | { kind: 'node'; workspace: WorkspaceRow; node: NodeRow }

export type AuthState = { state: 'missing' } | { state: 'invalid' } | { state: 'ok'; principal: Principal }

export type AppEnv = { Variables: { auth: AuthState } }

export function bearerToken(header: string | undefined | null): string | undefined {
  if (!header) return undefined
  const m = /^Bearer\s+(.+)$/i.exec(header.trim())
  const token = m?.[1]?.trim()
  return token ? token : undefined
}

export async function resolveToken(store: AsyncStore, token: string): Promise<Principal | undefined> {
  const hash = hashToken(token)
  switch (tokenKind(token)) {
    case 'workspace': {
      const workspace = await store.workspaces.byKeyHash(hash)
      return workspace && { kind: 'workspace', workspace }
    }
    case 'agent': {
      const agent = await store.agents.byTokenHash(hash)
      const workspace = agent && (await store.workspaces.get(agent.workspaceId))
      return agent && workspace ? { kind: 'agent', workspace, agent } : undefined
    }
    case 'node': {
      const node = await store.nodes.byTokenHash(hash)
      const workspace = node && (await store.workspaces.get(node.workspaceId))
      return node && workspace ? { kind: 'node', workspace, node } : undefined
    }
    default:
      return undefined
  }
}

/** Agents calling in refresh their presence; throttled so reads stay reads. */
const TOUCH_EVERY_MS = 10_000

export function authMiddleware(store: AsyncStore, now: () => number = Date.now): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = bearerToken(c.req.header('authorization'))
    if (!token) c.set('auth', { state: 'missing' })
    else {
      const principal = await resolveToken(store, token)
      c.set('auth', principal ? { state: 'ok', principal } : { state: 'invalid' })
      if (principal?.kind === 'agent') {
        const t = now()
        if (principal.agent.lastSeenAt === null || t - principal.agent.lastSeenAt > TOUCH_EVERY_MS) await store.agents.touch(principal.agent.id, t)
      }
    }
    await next()
  }
}

function principal(c: Context<AppEnv>): Principal {
  const auth = c.get('auth')
  if (auth.state === 'missing') throw new ApiError(401, 'unauthorized', 'missing bearer token')
  if (auth.state === 'invalid') throw new ApiError(401, 'invalid_token', 'token is not valid')
  return auth.principal
}

/** The principal if a valid token was sent, undefined if none; a bad token still fails. */
export function optionalPrincipal(c: Context<AppEnv>): Principal | undefined {
  return c.get('auth').state === 'missing' ? undefined : principal(c)
}

export function requireWorkspaceKey(c: Context<AppEnv>): WorkspaceRow {
  const p = principal(c)
  if (p.kind !== 'workspace') throw new ApiError(403, 'forbidden', 'this route needs the workspace key (rk_live_)')
  return p.workspace
}

export function requireAgent(c: Context<AppEnv>): { workspace: WorkspaceRow; agent: AgentRow } {
  const p = principal(c)
  if (p.kind !== 'agent') throw new ApiError(403, 'forbidden', 'this route needs an agent token (at_live_)')
  return { workspace: p.workspace, agent: p.agent }
}

/** Reads are open to the workspace key and to any agent of the same workspace. */
export function requireReader(c: Context<AppEnv>): { workspace: WorkspaceRow; agent?: AgentRow } {
  const p = principal(c)
  if (p.kind === 'workspace') return { workspace: p.workspace }
  if (p.kind === 'agent') return { workspace: p.workspace, agent: p.agent }
  throw new ApiError(403, 'forbidden', 'node tokens are only valid on /v1/node/ws')
}
