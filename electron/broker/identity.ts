/**
 * Node identity and node-token cache (node-protocol.md §1–§2.3).
 *
 * The node id is derived from a per-machine seed and the broker's cwd, so two
 * brokers on one machine in different folders are different nodes. A pinned
 * token (RELAY_NODE_TOKEN) is operator-enrolled: the seed is then the node id
 * verbatim and the token is never written to disk.
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { hostname } from 'node:os'
import { z } from 'zod'
import { writeFileAtomic } from './files'

export function deriveNodeId(seed: string, cwd: string): string {
  const digest = createHash('sha256')
    .update(Buffer.from(seed, 'utf8'))
    .update(Buffer.from([0]))
    .update(Buffer.from(cwd, 'utf8'))
    .digest('hex')
  return `node_${digest.slice(0, 32)}`
}

/** canonicalize(cwd) if possible, else as-is, else "" (§1.1). */
export function canonicalCwd(cwd: () => string = () => process.cwd()): string {
  let raw: string
  try {
    raw = cwd()
  } catch {
    return ''
  }
  try {
    return realpathSync(raw)
  } catch {
    return raw
  }
}

export const newSeed = (): string => `node_${randomUUID().replace(/-/g, '')}`

/** Read the machine seed, (re)creating it when missing or empty; ephemeral if the disk refuses. */
export function loadOrCreateSeed(seedPath: string, makeSeed: () => string = newSeed): { seed: string; ephemeral: boolean } {
  try {
    const existing = readFileSync(seedPath, 'utf8').trim()
    if (existing) return { seed: existing, ephemeral: false }
  } catch {
    // missing: create below
  }
  const seed = makeSeed()
  try {
    mkdirSync(dirname(seedPath), { recursive: true })
    writeFileSync(seedPath, `${seed}\n`, { mode: 0o600 })
    return { seed, ephemeral: false }
  } catch {
    return { seed, ephemeral: true }
  }
}

/** --name, else the OS hostname, else "relay-node" (§1.2). */
export function defaultNodeName(explicit?: string, host: () => string = hostname): string {
  if (explicit?.trim()) return explicit.trim()
  try {
    const h = host().trim()
    if (h) return h
  } catch {
    // fall through
  }
  return 'relay-node'
}

export function sanitizeNodeIdForFile(nodeId: string): string {
  if (!nodeId) return 'node'
  return nodeId.replace(/[^A-Za-z0-9_-]/g, '_')
}

export const tokenCachePath = (tokenDir: string, nodeId: string): string =>
  join(tokenDir, `${sanitizeNodeIdForFile(nodeId)}.json`)

const cachedTokenSchema = z.object({
  node_id: z.string(),
  workspace_id: z.string(),
  base_url: z.string().optional(),
  token: z.string(),
})
export type CachedNodeToken = z.infer<typeof cachedTokenSchema>

export interface TokenScope {
  nodeId: string
  workspaceId: string
  /** The configured engine URL override; undefined when the hosted default is in use. */
  baseUrl?: string
}

/** Scoping rules of §1.4: node id and workspace must match; base URLs only when both are known. */
export function loadCachedToken(tokenDir: string, scope: TokenScope): string | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(tokenCachePath(tokenDir, scope.nodeId), 'utf8'))
  } catch {
    return undefined
  }
  const parsed = cachedTokenSchema.safeParse(raw)
  if (!parsed.success) return undefined
  const cached = parsed.data
  if (cached.node_id !== scope.nodeId) return undefined
  if (cached.workspace_id !== scope.workspaceId) return undefined
  if (cached.base_url !== undefined && scope.baseUrl !== undefined && cached.base_url !== scope.baseUrl) return undefined
  const token = cached.token.trim()
  return token || undefined
}

/** Compact JSON, 0600, written atomically so a crash never leaves half a token. */
export function saveCachedToken(tokenDir: string, scope: TokenScope, token: string): void {
  const path = tokenCachePath(tokenDir, scope.nodeId)
  const body: CachedNodeToken = { node_id: scope.nodeId, workspace_id: scope.workspaceId, token }
  if (scope.baseUrl !== undefined) body.base_url = scope.baseUrl
  writeFileAtomic(path, JSON.stringify(body))
}

export function deleteCachedToken(tokenDir: string, nodeId: string): void {
  rmSync(tokenCachePath(tokenDir, nodeId), { force: true })
}

export interface NodeIdentity {
  nodeId: string
  nodeName: string
  /** Set when RELAY_NODE_TOKEN pins this node; such a token is never replaced. */
  pinnedToken?: string
  ephemeral: boolean
}

export interface IdentityInputs {
  /** Folder holding `machine-id` and `node-tokens/`. */
  stateDir: string
  env?: NodeJS.ProcessEnv
  cwd?: () => string
  name?: string
  makeSeed?: () => string
  hostname?: () => string
}

export function resolveIdentity(inputs: IdentityInputs): NodeIdentity {
  const env = inputs.env ?? process.env
  const pinned = env.RELAY_NODE_TOKEN?.trim()
  const { seed, ephemeral } = loadOrCreateSeed(join(inputs.stateDir, 'machine-id'), inputs.makeSeed)
  const nodeId = pinned ? seed : deriveNodeId(seed, canonicalCwd(inputs.cwd))
  return {
    nodeId,
    nodeName: defaultNodeName(inputs.name, inputs.hostname),
    pinnedToken: pinned || undefined,
    ephemeral,
  }
}

export const tokenDirOf = (stateDir: string): string => join(stateDir, 'node-tokens')

export type TokenSource = 'env' | 'cache' | 'minted'

/** Precedence of §2.3: env > scoped cache > mint (persisted). */
export async function resolveNodeToken(opts: {
  identity: NodeIdentity
  scope: TokenScope
  tokenDir: string
  mint: () => Promise<string>
  warn?: (msg: string) => void
}): Promise<{ token: string; source: TokenSource }> {
  if (opts.identity.pinnedToken) return { token: opts.identity.pinnedToken, source: 'env' }
  const cached = loadCachedToken(opts.tokenDir, opts.scope)
  if (cached) return { token: cached, source: 'cache' }
  const token = (await opts.mint()).trim()
  if (!token) throw new Error('engine returned an empty node token')
  try {
    saveCachedToken(opts.tokenDir, opts.scope, token)
  } catch (err) {
    opts.warn?.(`could not persist node token: ${(err as Error).message}`)
  }
  return { token, source: 'minted' }
}
