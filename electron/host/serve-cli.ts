/**
 * `npm run serve -- [--port N] [--data-dir DIR] [--engine-url URL --workspace-key rk_…]`
 * Headless mode: the host + the UI over HTTP/WS on 127.0.0.1. Prints the URL to open.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { defaultDataDir } from './paths'
import { createHost } from './host'
import { startHeadless } from './serve'

function fail(msg: string): never {
  process.stderr.write(`relay-desktop serve: ${msg}\n`)
  process.stderr.write('usage: npm run serve -- [--port N] [--data-dir DIR] [--engine-url URL --workspace-key rk_live_…] [--name NODE]\n')
  process.exit(2)
}

async function main(): Promise<void> {
  let args
  try {
    args = parseArgs({
      options: {
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        'engine-url': { type: 'string' },
        'workspace-key': { type: 'string' },
        name: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      strict: true,
    }).values
  } catch (err) {
    fail((err as Error).message)
  }
  const port = args.port === undefined ? 0 : Number(args.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0..65535, got ${args.port}`)
  const engineUrl = args['engine-url'] ?? process.env.RELAY_ENGINE_URL
  const workspaceKey = args['workspace-key'] ?? process.env.RELAY_WORKSPACE_KEY
  if (Boolean(engineUrl) !== Boolean(workspaceKey)) fail('a remote engine needs both --engine-url and --workspace-key')
  const dataDir = resolve(args['data-dir'] ?? defaultDataDir())
  mkdirSync(dataDir, { recursive: true })

  const quiet = args.quiet ?? false
  const host = createHost({
    dataDir,
    engine: engineUrl && workspaceKey ? { mode: 'remote', url: engineUrl, workspaceKey } : undefined,
    nodeName: args.name,
    log: (level, msg) => {
      if (level === 'error' || level === 'warn' || (!quiet && level === 'info')) process.stderr.write(`[${level}] ${msg}\n`)
    },
  })
  await host.start()
  const server = await startHeadless({
    host,
    staticDir: resolve(__dirname, '../../out/renderer'),
    port,
    log: (level, msg) => process.stderr.write(`[${level}] ${msg}\n`),
  })
  const s = host.status()
  process.stdout.write(`Relay Desktop (headless) — open ${server.url}\n`)
  process.stderr.write(`node ${s.nodeName} (${s.nodeId}) · engine ${s.engineUrl} · data ${dataDir}\n`)

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    process.stderr.write(`${signal}: stopping agents and shutting down…\n`)
    await server.close()
    await host.stop()
    process.exit(0)
  }
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
}

main().catch((err) => {
  process.stderr.write(`relay-desktop serve: ${(err as Error).message}\n`)
  process.exit(1)
})
