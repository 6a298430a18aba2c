/**
 * `npm run engine -- --port N --data-dir DIR [--database-url postgres://…] [--host ADDR] [--mailbox-ttl SECONDS] [--max-in-flight N]`
 * With --database-url (or RELAY_DATABASE_URL) the state is in PostgreSQL and several such
 * processes on one database act as one engine; without, SQLite under --data-dir.
 * Prints the bound URL alone on one stdout line once listening (callers parse
 * it); logs go to stderr. Exit 2 on bad arguments; SIGTERM/SIGINT shut down cleanly.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { startEngine } from './index'

const USAGE =
  'usage: engine --port <0-65535> --data-dir <dir> [--database-url <postgres://…>] [--host <addr>] [--mailbox-ttl <seconds>] [--max-in-flight <n>]\n' +
  '       RELAY_DATABASE_URL stands for --database-url'

function usageError(msg: string): never {
  process.stderr.write(`engine: ${msg}\n${USAGE}\n`)
  process.exit(2)
}

interface CliArgs { port: number; dataDir: string; databaseUrl?: string; host?: string; mailboxTtlMs?: number; maxInFlightPerAgent?: number }

/** postgres:// or postgresql:// with a host; anything else is refused before connecting. */
function databaseUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    usageError('--database-url must be a URL like postgres://user@host:5432/relay')
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') usageError(`--database-url must start with postgres:// (got ${url.protocol}//)`)
  return raw
}

function positiveInt(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw) || Number(raw) < 1) usageError(`--${flag} must be a positive integer, got "${raw}"`)
  return Number(raw)
}

function parse(argv: string[]): CliArgs {
  let values: { port?: string; 'data-dir'?: string; 'database-url'?: string; host?: string; help?: boolean; 'mailbox-ttl'?: string; 'max-in-flight'?: string }
  try {
    ;({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, 'data-dir': { type: 'string' }, 'database-url': { type: 'string' }, host: { type: 'string' }, help: { type: 'boolean' },
        'mailbox-ttl': { type: 'string' }, 'max-in-flight': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err))
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  if (values.port === undefined) usageError('--port is required')
  const port = Number(values.port)
  if (!/^\d+$/.test(values.port) || port > 65535) usageError(`--port must be an integer 0-65535, got "${values.port}"`)
  const dataDir = values['data-dir']
  if (!dataDir) usageError('--data-dir is required')
  const ttl = positiveInt('mailbox-ttl', values['mailbox-ttl'])
  return {
    port, dataDir: resolve(dataDir), host: values.host,
    databaseUrl: databaseUrl(values['database-url'] ?? process.env.RELAY_DATABASE_URL),
    mailboxTtlMs: ttl === undefined ? undefined : ttl * 1000,
    maxInFlightPerAgent: positiveInt('max-in-flight', values['max-in-flight']),
  }
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2))
  const engine = await startEngine({
    ...args,
    log: (level, msg, extra) => process.stderr.write(`${JSON.stringify({ level, msg, ...extra })}\n`),
  })
  process.stdout.write(`${engine.url}\n`)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    engine.close(`engine_shutdown:${signal}`).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`engine: shutdown failed: ${String(err)}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

main().catch((err: unknown) => {
  process.stderr.write(`engine: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
