/**
 * Relay engine (relaycast-compatible), pure Node: REST on Hono + the node control
 * socket on `ws`, state in SQLite. No Electron import, so it runs under plain
 * Node, tsx and vitest alike.
 */
import { createAdaptorServer } from '@hono/node-server'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ActionService } from './actions/service'
import { NODE_LIVENESS_TTL_MS, type EngineContext, type Logger } from './context'
import { EngineEvents } from './events'
import { buildApp } from './http/app'
import { DeliveryRouter } from './mailbox/router'
import { attachNodeSocket } from './node/socket'
import { soloBus, type ClusterBus } from './cluster/bus'
import { newId } from './ids'
import { asyncStore } from './store/async'
import { openSqliteStore } from './store/sqlite'
import type { AsyncStore } from './store/types'
import { UserHub } from './user/hub'

export interface EngineOptions {
  /** 0 = pick a free port. */
  port?: number
  /** Default 127.0.0.1: the engine holds workspace secrets, keep it local unless asked. */
  host?: string
  dataDir: string
  /**
   * postgres://… : keep state in PostgreSQL instead of SQLite under dataDir, so several
   * instances on one database act as one engine (see cluster/). Absent: SQLite.
   */
  databaseUrl?: string
  now?: () => number
  mailboxTtlMs?: number
  maxInFlightPerAgent?: number
  redriveIntervalMs?: number
  /** action.invoke without a result for this long is rescheduled. Default 30 s. */
  dispatchTimeoutMs?: number
  /** Never-dispatched pending invocations fail after this. Default 72 h. */
  invocationMaxAgeMs?: number
  log?: Logger
}

export interface RunningEngine {
  /** http://HOST:PORT with the real bound port. */
  url: string
  port: number
  /** Every REST route as `METHOD /path` (the isolation test walks all of them). */
  routes: Array<{ method: string; path: string }>
  /** What the engine did (acks recorded, group commits): observation only, see events.ts. */
  events: EngineEvents
  close(reason?: string): Promise<void>
}

export const DEFAULT_MAILBOX_TTL_MS = 60 * 60 * 1000
export const DEFAULT_MAX_IN_FLIGHT = 1000
export const DEFAULT_REDRIVE_INTERVAL_MS = 5000
export const DEFAULT_DISPATCH_TIMEOUT_MS = 30_000
export const DEFAULT_INVOCATION_MAX_AGE_MS = 72 * 60 * 60 * 1000

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}

/** The store and the cluster bus: SQLite alone, or PostgreSQL shared with other instances. */
async function openBackend(opts: EngineOptions, log: Logger): Promise<{ store: AsyncStore; bus: ClusterBus }> {
  const instanceId = newId('eng_')
  if (!opts.databaseUrl) {
    const sqlite = openSqliteStore(opts.dataDir, { exclusive: true })
    // No socket survives a restart, so no node may look online from a previous run.
    sqlite.nodes.resetAllOffline()
    return { store: asyncStore(sqlite), bus: soloBus(instanceId) }
  }
  const { openPgStore } = await import('./store/pg')
  const { openPgBus } = await import('./cluster/pg-bus')
  const store = await openPgStore(opts.databaseUrl, { onError: (err) => log('warn', 'postgres client error', { error: String(err) }) })
  try {
    // Other instances' sockets are alive: nodes are not reset here; the liveness sweep and
    // the instance registry (pg-bus) take a dead instance's nodes offline.
    return { store, bus: await openPgBus(opts.databaseUrl, store.pool, instanceId, log) }
  } catch (err) {
    await store.close()
    throw err
  }
}

export async function startEngine(opts: EngineOptions): Promise<RunningEngine> {
  const log: Logger = opts.log ?? (() => undefined)
  const now = opts.now ?? Date.now
  const host = opts.host ?? '127.0.0.1'
  const { store, bus } = await openBackend(opts, log)
  const events = new EngineEvents()
  const router = new DeliveryRouter(store, now, log, events, bus)
  const config = {
    now,
    mailboxTtlMs: opts.mailboxTtlMs ?? DEFAULT_MAILBOX_TTL_MS,
    maxInFlightPerAgent: opts.maxInFlightPerAgent ?? DEFAULT_MAX_IN_FLIGHT,
    dispatchTimeoutMs: opts.dispatchTimeoutMs ?? DEFAULT_DISPATCH_TIMEOUT_MS,
    invocationMaxAgeMs: opts.invocationMaxAgeMs ?? DEFAULT_INVOCATION_MAX_AGE_MS,
  }
  const hub = new UserHub(store, router, now, log)
  router.setHub(hub)
  const actions = new ActionService(store, router, config, log)
  const ctx: EngineContext = { store, router, hub, actions, log, config }
  // Liveness: a node silent for 45 s is lost (its agents offline, its invocations rescheduled).
  router.addSweep(async () => {
    const cutoff = now() - NODE_LIVENESS_TTL_MS
    for (const node of await store.nodes.staleOnline(cutoff)) {
      if (!(await store.nodes.markLost(node.id, { heartbeatBefore: cutoff }))) continue // it heartbeat meanwhile
      await actions.nodeLost(node.id)
      log('info', 'node offline (liveness timeout)', { node_id: node.id })
    }
  })
  router.addSweep(() => actions.sweep())
  const app = buildApp(ctx)
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server
  const nodeSockets = attachNodeSocket(server, ctx)

  let address: AddressInfo
  try {
    address = await listen(server, opts.port ?? 0, host)
  } catch (err) {
    await bus.close()
    await store.close()
    throw err
  }
  router.start(opts.redriveIntervalMs ?? DEFAULT_REDRIVE_INTERVAL_MS)
  const urlHost = host.includes(':') ? `[${host}]` : host
  const url = `http://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost}:${address.port}`
  log('info', 'engine listening', { url, data_dir: opts.dataDir, store: opts.databaseUrl ? 'postgres' : 'sqlite', instance: bus.instanceId })

  let closing: Promise<void> | undefined
  const close = (reason = 'engine_shutdown'): Promise<void> => {
    closing ??= (async () => {
      router.stop()
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()))
      await Promise.all([nodeSockets.close(reason), hub.close(reason)])
      server.closeAllConnections()
      await httpClosed
      // Whatever the last turn gathered (acks, marks, posts) is committed before the store goes.
      await router.flushWrites()
      await bus.close()
      await store.close()
      log('info', 'engine stopped', { reason })
    })()
    return closing
  }

  const routes = app.routes
    .filter((r) => r.method !== 'ALL')
    .map((r) => ({ method: r.method, path: r.path }))
    .filter((r, i, all) => all.findIndex((o) => o.method === r.method && o.path === r.path) === i)
  return { url, port: address.port, routes, events, close }
}
