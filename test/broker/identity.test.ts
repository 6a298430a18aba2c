import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  defaultNodeName,
  deriveNodeId,
  loadCachedToken,
  resolveIdentity,
  resolveNodeToken,
  sanitizeNodeIdForFile,
  saveCachedToken,
  tokenCachePath,
} from '../../electron/broker/identity'
import { tempDir } from '../support/wait'

describe('node identity (node-protocol §1)', () => {
  it('derives node ids matching the published test vectors', () => {
    expect(deriveNodeId('node_seed123', '/Users/will/Projects/relay')).toBe('node_6773ce94725ff60cc1e8e6b2c9065af4')
    expect(deriveNodeId('node_0123456789abcdef0123456789abcdef', '/home/dev/proj')).toBe('node_ea3348ef1b3d05664c7b46623d6e4c52')
    expect(deriveNodeId('node_0123456789abcdef0123456789abcdef', '')).toBe('node_dc5e22aedcd811497a087c51c5679e2e')
  })

  it('§8 #12: two brokers in different cwds get different node ids and token files', () => {
    const dir = tempDir('id')
    const a = resolveIdentity({ stateDir: dir, env: {}, cwd: () => '/tmp' })
    const b = resolveIdentity({ stateDir: dir, env: {}, cwd: () => '/' })
    expect(a.nodeId).not.toBe(b.nodeId)
    expect(tokenCachePath(dir, a.nodeId)).not.toBe(tokenCachePath(dir, b.nodeId))
  })

  it('creates the machine seed once as node_<32 hex> and reuses it', () => {
    const dir = tempDir('seed')
    const a = resolveIdentity({ stateDir: dir, env: {}, cwd: () => '/tmp' })
    const seed = readFileSync(join(dir, 'machine-id'), 'utf8')
    expect(seed).toMatch(/^node_[0-9a-f]{32}\n$/)
    expect(resolveIdentity({ stateDir: dir, env: {}, cwd: () => '/tmp' }).nodeId).toBe(a.nodeId)
  })

  it('§8 #13: with RELAY_NODE_TOKEN the node id is the seed verbatim', () => {
    const dir = tempDir('pinned')
    writeFileSync(join(dir, 'machine-id'), 'node_pinned_seed\n')
    const id = resolveIdentity({ stateDir: dir, env: { RELAY_NODE_TOKEN: ' nt_live_x ' }, cwd: () => '/tmp' })
    expect(id.nodeId).toBe('node_pinned_seed')
    expect(id.pinnedToken).toBe('nt_live_x')
  })

  it('names the node by flag, else hostname, else relay-node', () => {
    expect(defaultNodeName(' box ', () => 'h')).toBe('box')
    expect(defaultNodeName(undefined, () => 'host1')).toBe('host1')
    expect(defaultNodeName(undefined, () => '  ')).toBe('relay-node')
  })

  it('sanitizes node ids for file names', () => {
    expect(sanitizeNodeIdForFile('a/b\\c d')).toBe('a_b_c_d')
    expect(sanitizeNodeIdForFile('')).toBe('node')
  })
})

describe('node token cache (node-protocol §1.3–§1.5, §2.3)', () => {
  const scope = { nodeId: 'node_a', workspaceId: 'ws_1', baseUrl: 'http://127.0.0.1:1' }

  it('writes compact JSON with mode 0600 and reads it back', () => {
    const dir = tempDir('tok')
    saveCachedToken(dir, scope, 'nt_live_1')
    const path = tokenCachePath(dir, 'node_a')
    expect(readFileSync(path, 'utf8')).toBe('{"node_id":"node_a","workspace_id":"ws_1","token":"nt_live_1","base_url":"http://127.0.0.1:1"}')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(loadCachedToken(dir, scope)).toBe('nt_live_1')
  })

  it('§8 #14: ignores a cached token of another workspace', () => {
    const dir = tempDir('tok')
    saveCachedToken(dir, scope, 'nt_live_1')
    expect(loadCachedToken(dir, { ...scope, workspaceId: 'ws_2' })).toBeUndefined()
  })

  it('§8 #15: ignores a different base_url, reuses a legacy file without one', () => {
    const dir = tempDir('tok')
    saveCachedToken(dir, scope, 'nt_live_1')
    expect(loadCachedToken(dir, { ...scope, baseUrl: 'http://other' })).toBeUndefined()
    mkdirSync(dir, { recursive: true })
    writeFileSync(tokenCachePath(dir, 'node_a'), JSON.stringify({ node_id: 'node_a', workspace_id: 'ws_1', token: ' nt_legacy ' }))
    expect(loadCachedToken(dir, { ...scope, baseUrl: 'http://other' })).toBe('nt_legacy')
  })

  it('ignores corrupt files and blank tokens', () => {
    const dir = tempDir('tok')
    writeFileSync(tokenCachePath(dir, 'node_a'), '{not json')
    expect(loadCachedToken(dir, scope)).toBeUndefined()
    writeFileSync(tokenCachePath(dir, 'node_a'), JSON.stringify({ node_id: 'node_a', workspace_id: 'ws_1', token: '  ' }))
    expect(loadCachedToken(dir, scope)).toBeUndefined()
  })

  it('precedence: env > cache > mint; only a minted token is persisted', async () => {
    const dir = tempDir('tok')
    let mints = 0
    const mint = async () => `nt_live_minted_${++mints}`
    const identity = { nodeId: 'node_a', nodeName: 'n', ephemeral: false }
    const first = await resolveNodeToken({ identity, scope, tokenDir: dir, mint })
    expect(first).toEqual({ token: 'nt_live_minted_1', source: 'minted' })
    expect(await resolveNodeToken({ identity, scope, tokenDir: dir, mint })).toEqual({ token: 'nt_live_minted_1', source: 'cache' })
    const pinned = await resolveNodeToken({ identity: { ...identity, pinnedToken: 'nt_env' }, scope, tokenDir: dir, mint })
    expect(pinned).toEqual({ token: 'nt_env', source: 'env' })
    expect(loadCachedToken(dir, scope)).toBe('nt_live_minted_1')
    expect(mints).toBe(1)
  })
})
