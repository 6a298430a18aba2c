/**
 * The app as installed: the build output and the production dependencies only, copied
 * to a temp folder — no electron/ sources, no TypeScript, no tsx. From there an agent's
 * `relay` command (the bin/relay shim) and the MCP server must work against a real
 * engine: this is what the packaged app and `npm run serve` ship. (It failed on the
 * earlier layout, where bin/relay.mjs loaded tsx to run electron/agent-tools/cli.ts.)
 */
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dmsOf, ROOT, runCommand, world, type TestAgent, type World } from './helpers'

/** The production dependencies' top-level folders (node_modules/<name> or node_modules/@scope/name). */
function productionPackages(): string[] {
  let out = ''
  try {
    out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? '') // npm ls exits 1 on an extraneous package; the list is still right
  }
  return out
    .split('\n')
    .filter((p) => p.startsWith(join(ROOT, 'node_modules')) && relative(ROOT, p).split('node_modules').length === 2)
}

function filesUnder(dir: string, skip = (_: string) => false): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (skip(p)) continue
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, skip))
    else out.push(p)
  }
  return out
}

let app: string
let w: World
let alice: TestAgent
let bob: TestAgent

beforeAll(async () => {
  expect(existsSync(join(ROOT, 'out', 'relay', 'relay.mjs')), 'build first (npm test does)').toBe(true)
  app = mkdtempSync(join(tmpdir(), 'relay-installed-'))
  for (const part of ['out', 'bin', 'package.json']) cpSync(join(ROOT, part), join(app, part), { recursive: true })
  for (const pkg of productionPackages()) cpSync(pkg, join(app, relative(ROOT, pkg)), { recursive: true })
  w = await world()
  alice = await w.agent('inst-alice')
  bob = await w.agent('inst-bob')
}, 120_000)

afterAll(async () => {
  await w?.close()
  if (app) rmSync(app, { recursive: true, force: true })
})

/** What the broker gives an agent, with the installed layout's shim on PATH. */
const agentEnv = (a: TestAgent) => ({ ...w.envFor(a), PATH: `${join(app, 'bin')}:/usr/bin:/bin`, RELAY_NODE: process.execPath })

describe('the installed layout', () => {
  it('holds the build output and production dependencies only: no sources, no TypeScript, no tsx', () => {
    expect(existsSync(join(app, 'electron'))).toBe(false)
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false)
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false)
    const ours = filesUnder(app, (p) => p.endsWith('node_modules'))
    expect(ours.filter((f) => /\.(ts|tsx|mts|cts)$/.test(f))).toEqual([])
    for (const entry of ['index', 'serve', 'engine', 'engine-worker']) expect(existsSync(join(app, 'out', 'main', `${entry}.js`))).toBe(true)
    expect(existsSync(join(app, 'out', 'relay', 'relay.mjs'))).toBe(true)
  })

  it('`relay help` through the PATH shim', async () => {
    const r = await runCommand('relay', ['help'], agentEnv(alice))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('relay — talk to other agents through Agent Relay')
  })

  it('`relay send` reaches a real engine; bad input still gets a clear message and exit code, nothing sent', async () => {
    const sent = await runCommand('relay', ['send', bob.name, 'from the installed app'], agentEnv(alice))
    expect(sent.stderr).toBe('')
    expect(sent.code).toBe(0)
    expect((await dmsOf(w, bob)).map((m) => m.text)).toContain('from the installed app')
    const bad = await runCommand('relay', ['send', 'nobody-here', 'lost?'], agentEnv(alice))
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/nobody-here/)
    const usage = await runCommand('relay', ['send'], agentEnv(alice))
    expect(usage.code).toBe(2)
    expect((await dmsOf(w, bob)).map((m) => m.text)).not.toContain('lost?')
  })

  it('the MCP server answers tools/list and send_dm to the MCP SDK client', async () => {
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(agentEnv(alice))) if (v !== undefined) env[k] = v
    const transport = new StdioClientTransport({ command: process.execPath, args: [join(app, 'bin', 'relay.mjs'), 'mcp'], env, stderr: 'pipe' })
    const client = new Client({ name: 'installed-layout-test', version: '0.0.0' })
    await client.connect(transport)
    try {
      const tools = await client.listTools()
      expect(tools.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['send_dm', 'post_message', 'check_inbox']))
      const r = await client.callTool({ name: 'send_dm', arguments: { to: bob.name, text: 'via the installed MCP server' } })
      expect(r.isError).toBeFalsy()
      expect((await dmsOf(w, bob)).map((m) => m.text)).toContain('via the installed MCP server')
    } finally {
      await client.close()
    }
  })
})
