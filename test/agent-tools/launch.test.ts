/** launchConfigFor: the MCP configuration each agent CLI is started with. Pure; no CLI needs to be installed. */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import {
  agentConfigDir,
  mcpServerSpec,
  relayInvocation,
  insecureAncestor,
  launchConfigFor,
  normalizeCli,
  relayBinDir,
  relayMjsPath,
  withRelayOnPath,
  writeLaunchFiles,
  type LaunchOptions,
  type McpServerSpec,
} from '../../electron/agent-tools/launch'
import { tempDir } from '../support/wait'
import { ROOT } from './helpers'

const base: LaunchOptions = {
  cli: 'claude',
  agentName: 'reviewer',
  token: 'at_live_AGENT123',
  baseUrl: 'http://127.0.0.1:8787',
  workspaceId: 'ws_7Hq2',
  configDir: '/tmp/relay-agent-cfg/reviewer',
}

const expectedEnv = {
  RELAY_BASE_URL: 'http://127.0.0.1:8787',
  RELAY_AGENT_NAME: 'reviewer',
  RELAY_AGENT_TYPE: 'agent',
  RELAY_STRICT_AGENT_NAME: '1',
  RELAY_AGENT_TOKEN: 'at_live_AGENT123',
  RELAY_SKIP_BOOTSTRAP: '1',
  RELAY_DEFAULT_WORKSPACE: 'ws_7Hq2',
}

/** Nothing that is or names a workspace key, anywhere in the config. */
function expectNoWorkspaceKey(text: string): void {
  expect(text).not.toMatch(/rk_live_|RELAY_API_KEY|RELAY_WORKSPACE_KEY|AGENT_RELAY_WORKSPACE_KEY|RELAY_WORKSPACES_JSON|api_key/)
}

/**
 * A TOML value parser for exactly what codex's `--config key=value` gets from us:
 * basic strings, arrays of them, inline tables of them (TOML 1.0 grammar for these).
 */
function parseTomlValue(src: string): unknown {
  let i = 0
  const ws = () => {
    while (src[i] === ' ' || src[i] === '\t') i++
  }
  const str = (): string => {
    if (src[i] !== '"') throw new Error(`expected " at ${i} in ${src}`)
    i++
    let out = ''
    for (;;) {
      const c = src[i++]
      if (c === undefined) throw new Error('unterminated string')
      if (c === '"') return out
      if (c === '\\') {
        const e = src[i++]
        const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' }
        if (e && e in simple) out += simple[e]
        else if (e === 'u') {
          out += String.fromCharCode(parseInt(src.slice(i, i + 4), 16))
          i += 4
        } else throw new Error(`bad escape \\${e}`)
      } else {
        if (c.charCodeAt(0) < 0x20) throw new Error('control character in basic string')
        out += c
      }
    }
  }
  const key = (): string => {
    if (src[i] === '"') return str()
    const m = /^[A-Za-z0-9_-]+/.exec(src.slice(i))
    if (!m) throw new Error(`bad key at ${i}`)
    i += m[0].length
    return m[0]
  }
  const value = (): unknown => {
    ws()
    if (src[i] === '"') return str()
    if (src[i] === '[') {
      i++
      const arr: unknown[] = []
      ws()
      while (src[i] !== ']') {
        arr.push(value())
        ws()
        if (src[i] === ',') i++
        ws()
      }
      i++
      return arr
    }
    if (src[i] === '{') {
      i++
      const obj: Record<string, unknown> = {}
      ws()
      while (src[i] !== '}') {
        const k = key()
        ws()
        if (src[i++] !== '=') throw new Error('expected =')
        obj[k] = value()
        ws()
        if (src[i] === ',') i++
        ws()
      }
      i++
      return obj
    }
    for (const [word, val] of [['true', true], ['false', false]] as const) {
      if (src.startsWith(word, i)) {
        i += word.length
        return val
      }
    }
    throw new Error(`unexpected ${src[i]} at ${i}`)
  }
  const v = value()
  ws()
  if (i !== src.length) throw new Error(`trailing text: ${src.slice(i)}`)
  return v
}

describe('launchConfigFor', () => {
  it('claude: --mcp-config with the agent-relay server running our relay.mjs mcp, its tools (and only those) pre-approved', () => {
    const cfg = launchConfigFor(base)
    expect(cfg.args).toHaveLength(4)
    expect(cfg.args.slice(2)).toEqual(['--allowedTools', 'mcp__agent-relay'])
    expect(cfg.args).not.toContain('--dangerously-skip-permissions')
    expect(cfg.args[0]).toBe('--mcp-config')
    const json = JSON.parse(cfg.args[1] as string) as { mcpServers: Record<string, McpServerSpec> }
    expect(Object.keys(json.mcpServers)).toEqual(['agent-relay'])
    expect(json.mcpServers['agent-relay']).toEqual({ command: process.execPath, args: [relayMjsPath(), 'mcp'], env: expectedEnv })
    expect(cfg.files).toEqual([])
    expect(cfg.env).toMatchObject({ RELAY_BASE_URL: base.baseUrl, RELAY_AGENT_NAME: 'reviewer', RELAY_AGENT_TOKEN: base.token, RELAY_WORKSPACE_ID: 'ws_7Hq2' })
    expectNoWorkspaceKey(JSON.stringify(cfg))
  })

  it('codex: --config mcp_servers.agent-relay.{command,args,env} as TOML values', () => {
    const cfg = launchConfigFor({ ...base, cli: '/usr/local/bin/codex' })
    expect(cfg.files).toEqual([])
    const pairs: Record<string, unknown> = {}
    for (let i = 0; i < cfg.args.length; i += 2) {
      expect(cfg.args[i]).toBe('--config')
      const kv = cfg.args[i + 1] as string
      const eq = kv.indexOf('=')
      pairs[kv.slice(0, eq)] = parseTomlValue(kv.slice(eq + 1))
    }
    expect(pairs).toEqual({
      'mcp_servers.agent-relay.command': process.execPath,
      'mcp_servers.agent-relay.args': [relayMjsPath(), 'mcp'],
      'mcp_servers.agent-relay.env': expectedEnv,
      'mcp_servers.agent-relay.default_tools_approval_mode': 'approve',
      'features.daemon_auto_start': false,
    })
    expectNoWorkspaceKey(cfg.args.join(' '))
  })

  it('agent config folders stay private: below a world-writable folder they move to a private cache folder', () => {
    // A private "home" (no group/world-writable folder above it), like a user's.
    mkdirSync(join(homedir(), '.cache'), { recursive: true, mode: 0o700 })
    const home = mkdtempSync(join(homedir(), '.cache', 'relay-test-home-'))
    onTestFinished(() => rmSync(home, { recursive: true, force: true }))
    const shared = tempDir('shared')
    chmodSync(shared, 0o777)
    const warnings: string[] = []
    const dir = agentConfigDir(join(shared, 'node'), 'gem/1', (m) => warnings.push(m), home)
    expect(dir.startsWith(join(home, '.cache', 'relay-desktop', 'agents'))).toBe(true)
    expect(dir.endsWith('gem_1')).toBe(true)
    expect(warnings[0]).toContain(`${shared} is writable by others`)
    expect(insecureAncestor(dir)).toBeUndefined()
    // A private data dir keeps its own folder.
    const priv = join(home, 'data')
    expect(agentConfigDir(priv, 'gem', () => undefined, home)).toBe(join(priv, 'agents', 'gem'))
  })

  it('skip-all permissions (the Settings option): each CLI asks for nothing, as upstream agent-relay does', () => {
    const claude = launchConfigFor({ ...base, permissions: 'skip-all', isRoot: true })
    expect(claude.args).toContain('--dangerously-skip-permissions')
    expect(claude.args).not.toContain('--allowedTools')
    expect(claude.env.IS_SANDBOX).toBe('1')
    expect(launchConfigFor({ ...base, permissions: 'skip-all', isRoot: false }).env.IS_SANDBOX).toBeUndefined()
    expect(launchConfigFor({ ...base, cli: 'codex', permissions: 'skip-all' }).args).toContain('--dangerously-bypass-approvals-and-sandbox')
    expect(launchConfigFor({ ...base, cli: 'codex' }).args).not.toContain('--dangerously-bypass-approvals-and-sandbox')
    expect(launchConfigFor({ ...base, cli: 'gemini', permissions: 'skip-all' }).args).toEqual(['--approval-mode', 'yolo'])
    const opencode = launchConfigFor({ ...base, cli: 'opencode', permissions: 'skip-all' })
    expect(JSON.parse(opencode.files[0]!.content).permission).toBe('allow')
    expect(JSON.parse(launchConfigFor({ ...base, cli: 'opencode' }).files[0]!.content).permission).toBeUndefined()
  })

  it('codex: values with quotes, backslashes and newlines survive the TOML round trip', () => {
    const name = 'we"ird\\name'
    const cfg = launchConfigFor({ ...base, cli: 'codex', agentName: name, baseUrl: 'http://h:1/a b\nc' })
    const env = parseTomlValue((cfg.args[5] as string).split('=').slice(1).join('=')) as Record<string, string>
    expect(env.RELAY_AGENT_NAME).toBe(name)
    expect(env.RELAY_BASE_URL).toBe('http://h:1/a b\nc')
  })

  it('gemini: a settings file in configDir, pointed at by GEMINI_CLI_SYSTEM_DEFAULTS_PATH', () => {
    const cfg = launchConfigFor({ ...base, cli: 'gemini' })
    expect(cfg.args).toEqual([])
    expect(cfg.files).toHaveLength(1)
    const file = cfg.files[0]!
    expect(file.path).toBe(join(base.configDir, 'gemini-system-defaults.json'))
    expect(file.mode).toBe(0o600)
    expect(cfg.env.GEMINI_CLI_SYSTEM_DEFAULTS_PATH).toBe(file.path)
    const json = JSON.parse(file.content) as { mcpServers: Record<string, McpServerSpec & { trust: boolean }> }
    expect(json.mcpServers['agent-relay']).toEqual({ command: process.execPath, args: [relayMjsPath(), 'mcp'], env: expectedEnv, trust: true })
    expectNoWorkspaceKey(JSON.stringify(cfg))
  })

  it('opencode: opencode.json in configDir (type local, command array, environment), pointed at by OPENCODE_CONFIG', () => {
    const cfg = launchConfigFor({ ...base, cli: 'opencode' })
    expect(cfg.args).toEqual([])
    const file = cfg.files[0]!
    expect(file.path).toBe(join(base.configDir, 'opencode.json'))
    expect(cfg.env.OPENCODE_CONFIG).toBe(file.path)
    const json = JSON.parse(file.content) as { $schema: string; mcp: Record<string, unknown> }
    expect(json.$schema).toBe('https://opencode.ai/config.json')
    expect(json.mcp['agent-relay']).toEqual({
      type: 'local',
      command: [process.execPath, relayMjsPath(), 'mcp'],
      environment: expectedEnv,
      enabled: true,
    })
    expectNoWorkspaceKey(JSON.stringify(cfg))
  })

  it('other programs get the environment only; no token means no token and no SKIP_BOOTSTRAP', () => {
    for (const cli of ['bash', 'aider', 'cat', 'goose']) {
      const cfg = launchConfigFor({ ...base, cli })
      expect(cfg.args).toEqual([])
      expect(cfg.files).toEqual([])
      expect(cfg.env.RELAY_AGENT_TOKEN).toBe(base.token)
    }
    const noToken = launchConfigFor({ ...base, token: undefined })
    const spec = (JSON.parse(noToken.args[1] as string) as { mcpServers: Record<string, McpServerSpec> }).mcpServers['agent-relay']!
    expect(spec.env.RELAY_AGENT_TOKEN).toBeUndefined()
    expect(spec.env.RELAY_SKIP_BOOTSTRAP).toBeUndefined()
    expect(noToken.env.RELAY_AGENT_TOKEN).toBeUndefined()
  })

  it('refuses a workspace key passed as the token', () => {
    expect(() => launchConfigFor({ ...base, token: 'rk_live_WSKEY' })).toThrow(/never the workspace key/)
  })

  it('normalizes the CLI name, finds bin/, and writes files owner-only', () => {
    expect(normalizeCli('/opt/bin/Claude')).toBe('claude')
    expect(normalizeCli('codex.exe')).toBe('codex')
    expect(relayBinDir()).toBe(join(ROOT, 'bin'))
    expect(statSync(join(relayBinDir(), 'relay')).mode & 0o111).not.toBe(0)
    expect(withRelayOnPath('/usr/bin:/bin', '/x/bin')).toBe('/x/bin:/usr/bin:/bin')
    expect(withRelayOnPath('/x/bin:/usr/bin', '/x/bin')).toBe('/x/bin:/usr/bin')

    const dir = tempDir('launch-files')
    const cfg = launchConfigFor({ ...base, cli: 'opencode', configDir: join(dir, 'agents', 'reviewer') })
    writeLaunchFiles(cfg.files)
    const f = cfg.files[0]!
    expect(readFileSync(f.path, 'utf8')).toBe(f.content)
    expect(statSync(f.path).mode & 0o777).toBe(0o600)
  })
})

describe('how `relay` runs in each kind of installation', () => {
  it('under Node: node bin/relay.mjs; in the packaged app: the app binary with --relay-cli (no RunAsNode); unpackaged Electron: the app folder first', () => {
    const node = relayInvocation({ execPath: '/usr/bin/node', electron: false, defaultApp: false })
    expect(node).toEqual({ command: '/usr/bin/node', args: [relayMjsPath()], env: { RELAY_NODE: '/usr/bin/node' }, binDir: relayBinDir() })
    const packaged = relayInvocation({ execPath: '/opt/Relay/relay-desktop', electron: true, defaultApp: false, resourcesPath: '/opt/Relay/resources' })
    expect(packaged).toEqual({ command: '/opt/Relay/relay-desktop', args: ['--relay-cli'], env: { RELAY_APP_BIN: '/opt/Relay/relay-desktop' }, binDir: '/opt/Relay/resources/bin' })
    const dev = relayInvocation({ execPath: '/x/electron', electron: true, defaultApp: true })
    expect(dev.args).toEqual([ROOT, '--relay-cli'])
    expect(dev.env).toEqual({ RELAY_APP_BIN: '/x/electron', RELAY_APP_PATH: ROOT })
    const spec = mcpServerSpec(base, packaged)
    expect(spec.command).toBe('/opt/Relay/relay-desktop')
    expect(spec.args).toEqual(['--relay-cli', 'mcp'])
    expect(spec.env.ELECTRON_RUN_AS_NODE).toBeUndefined()
  })

  it('the bin/relay shim runs the app binary with --relay-cli when RELAY_APP_BIN is set (and the app folder when unpackaged)', () => {
    const dir = tempDir('fake-app')
    const app = join(dir, 'relay-desktop')
    writeFileSync(app, '#!/bin/sh\nprintf "%s|" "$@"\n', { mode: 0o755 })
    const run = (env: Record<string, string>) =>
      execFileSync(join(relayBinDir(), 'relay'), ['send', 'bob', 'two words'], { env: { PATH: '/usr/bin:/bin', ...env }, encoding: 'utf8' })
    expect(run({ RELAY_APP_BIN: app })).toBe('--relay-cli|send|bob|two words|')
    expect(run({ RELAY_APP_BIN: app, RELAY_APP_PATH: '/src/relay' })).toBe('/src/relay|--relay-cli|send|bob|two words|')
  })
})
