/**
 * `BENCH_ONLY=relay npm run bench`: how long an agent waits on the `relay` program.
 * - `relay help` through the PATH shim (bin/relay → node bin/relay.mjs → out/main/relay.js),
 *   7 runs, wall time of the whole process;
 * - the MCP server ready: spawn → its answer to `initialize`, 7 runs;
 * - bare `node -e 0`, the floor both stand on.
 */
import { spawn, spawnSync } from 'node:child_process'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { summarize, type Summary } from './stats'

const ROOT = resolve(__dirname, '../..')
const RUNS = Number(process.env.BENCH_RELAY_RUNS ?? 7)
const baseEnv: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? ''}`, RELAY_NODE: process.execPath }
// NODE_EXTRA_CA_CERTS (set on some machines, this sandbox among them) makes every Node
// start read a CA bundle: ~50 ms here. Measured both ways, so the figure means something.
const { NODE_EXTRA_CA_CERTS: _ca, ...noCaEnv } = baseEnv
let env: NodeJS.ProcessEnv = baseEnv

function timeRun(cmd: string, args: string[]): number {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = performance.now() - t0
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return ms
}

function mcpReady(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'relay.mjs'), 'mcp'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d
      if (out.includes('"id":1')) {
        const ms = performance.now() - t0
        child.kill('SIGTERM')
        resolvePromise(ms)
      }
    })
    child.on('error', reject)
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '0' } } })}\n`)
  })
}

export interface RelayRun {
  nodeFloor: Summary
  relayHelp: Summary
  mcpInitialize: Summary
}

export interface RelayBench {
  /** With the environment as it is. */
  asIs: RelayRun
  /** Without NODE_EXTRA_CA_CERTS, when it was set. */
  withoutExtraCaCerts?: RelayRun
}

async function runAll(): Promise<RelayRun> {
  const floor: number[] = []
  const help: number[] = []
  const mcp: number[] = []
  timeRun(join(ROOT, 'bin', 'relay'), ['help']) // warm the file cache
  for (let i = 0; i < RUNS; i++) {
    floor.push(timeRun(process.execPath, ['-e', '0']))
    help.push(timeRun(join(ROOT, 'bin', 'relay'), ['help']))
    mcp.push(await mcpReady())
  }
  return { nodeFloor: summarize(floor), relayHelp: summarize(help), mcpInitialize: summarize(mcp) }
}

export async function benchRelay(): Promise<RelayBench> {
  env = baseEnv
  const asIs = await runAll()
  if (!process.env.NODE_EXTRA_CA_CERTS) return { asIs }
  env = noCaEnv
  return { asIs, withoutExtraCaCerts: await runAll() }
}
