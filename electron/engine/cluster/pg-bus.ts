/**
 * The cluster bus on PostgreSQL itself: LISTEN/NOTIFY carries the events (bus.ts) between
 * engine instances on one database, and a session advisory lock elects the one instance
 * that runs the cluster-wide sweeps.
 *
 * One dedicated connection per instance (not from the pool: LISTEN and a session lock
 * belong to a session) does both. When it drops — the database restarted, or this
 * instance was partitioned away — the instance stops being leader at once (its lock went
 * with the session, so another instance may take it), reconnects with a capped backoff
 * and listens again. Events sent while it was away are lost; the re-drive sweep sends
 * what they announced (see bus.ts).
 *
 * An instance that dies takes its session with it: PostgreSQL releases the lock as soon
 * as it sees the connection close, and another instance's next try (every
 * LEADER_RETRY_MS) takes over.
 */
import pg from 'pg'
import type { Pool } from 'pg'
import type { Logger } from '../context'
import type { ClusterBus, ClusterEvent } from './bus'

/** NOTIFY channel of all instances. */
export const CLUSTER_CHANNEL = 'relay_cluster'
/** pg_advisory_lock key of the sweep leader ("relay" + 1). */
export const LEADER_LOCK_KEY = 0x72656c61_01
/** How often a follower tries to become leader (ms). */
export const LEADER_RETRY_MS = 1000
/** NOTIFY payloads must stay below 8000 bytes; events are split to fit. */
export const MAX_PAYLOAD_BYTES = 7000

interface Envelope {
  /** Sending instance. */
  i: string
  e: ClusterEvent[]
}

/** Splits events (and an event's agent list) into envelopes that each fit one NOTIFY. */
export function packEvents(instanceId: string, events: ClusterEvent[], maxBytes = MAX_PAYLOAD_BYTES): string[] {
  const out: string[] = []
  let batch: ClusterEvent[] = []
  const size = (e: ClusterEvent[]) => Buffer.byteLength(JSON.stringify({ i: instanceId, e } satisfies Envelope))
  const flush = () => {
    if (batch.length) out.push(JSON.stringify({ i: instanceId, e: batch } satisfies Envelope))
    batch = []
  }
  for (const event of events) {
    if (size([...batch, event]) <= maxBytes) {
      batch.push(event)
      continue
    }
    flush()
    if (size([event]) <= maxBytes) {
      batch.push(event)
      continue
    }
    if (event.k === 'mail' || event.k === 'replay') {
      // Halve the agent list until each half fits.
      const half = Math.ceil(event.agents.length / 2)
      out.push(...packEvents(instanceId, [{ ...event, agents: event.agents.slice(0, half) }, { ...event, agents: event.agents.slice(half) }], maxBytes))
      continue
    }
    // Ids only: cannot happen with real ids; dropping would be silent, so fail loudly.
    throw new Error(`cluster event too large for NOTIFY: ${event.k}`)
  }
  flush()
  return out
}

export function parseEnvelope(payload: string): Envelope | undefined {
  try {
    const raw = JSON.parse(payload) as Partial<Envelope>
    if (typeof raw.i !== 'string' || !Array.isArray(raw.e)) return undefined
    return { i: raw.i, e: raw.e.filter((x): x is ClusterEvent => !!x && typeof x === 'object' && typeof (x as { k?: unknown }).k === 'string') }
  } catch {
    return undefined
  }
}

export interface PgBusOptions {
  leaderRetryMs?: number
}

export async function openPgBus(connectionString: string, pool: Pool, instanceId: string, log: Logger, opts: PgBusOptions = {}): Promise<ClusterBus> {
  const handlers: Array<(e: ClusterEvent) => void> = []
  let leader = false
  let closed = false
  let client: pg.Client | undefined
  let outbox: ClusterEvent[] = []
  let flushing = false
  let retryTimer: NodeJS.Timeout | undefined
  let reconnectDelay = 100

  const deliver = (payload: string) => {
    const env = parseEnvelope(payload)
    if (!env) {
      log('warn', 'cluster: unreadable notification ignored', { bytes: payload.length })
      return
    }
    if (env.i === instanceId) return
    for (const event of env.e) {
      for (const h of handlers) {
        try {
          h(event)
        } catch (err) {
          log('error', 'cluster: event handler failed', { event: event.k, error: String(err) })
        }
      }
    }
  }

  const tryLead = async () => {
    retryTimer = undefined
    const c = client
    if (closed || !c || leader) return
    try {
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LEADER_LOCK_KEY])
      if (r.rows[0]?.ok && c === client) {
        leader = true
        log('info', 'cluster: this instance runs the sweeps', { instance: instanceId })
      }
    } catch (err) {
      log('warn', 'cluster: leader check failed', { error: String(err) })
    }
    if (!leader && !closed && c === client) {
      retryTimer = setTimeout(() => void tryLead(), opts.leaderRetryMs ?? LEADER_RETRY_MS)
      retryTimer.unref()
    }
  }

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString, application_name: `relay-engine:${instanceId}` })
    c.on('notification', (n) => {
      if (n.channel === CLUSTER_CHANNEL && n.payload) deliver(n.payload)
    })
    c.on('error', (err) => {
      log('warn', 'cluster: listener connection failed', { error: String(err) })
      lost(c)
    })
    c.on('end', () => lost(c))
    await c.connect()
    await c.query(`LISTEN ${CLUSTER_CHANNEL}`)
    client = c
    reconnectDelay = 100
    void tryLead()
  }

  const lost = (c: pg.Client) => {
    if (c !== client) return
    client = undefined
    if (leader) log('warn', 'cluster: leadership lost with the listener connection', { instance: instanceId })
    leader = false
    if (retryTimer) clearTimeout(retryTimer)
    c.end().catch(() => undefined)
    if (closed) return
    const reconnect = () => {
      if (closed) return
      connect().catch((err: unknown) => {
        log('warn', 'cluster: listener reconnect failed', { error: String(err), retry_ms: reconnectDelay })
        reconnectDelay = Math.min(reconnectDelay * 2, 5000)
        setTimeout(reconnect, reconnectDelay).unref()
      })
    }
    setTimeout(reconnect, reconnectDelay).unref()
  }

  /** Sends what gathered this turn, split to fit NOTIFY, in order. */
  const flush = async () => {
    if (flushing) return
    flushing = true
    try {
      while (outbox.length) {
        const events = outbox
        outbox = []
        for (const payload of packEvents(instanceId, events)) {
          try {
            await pool.query('SELECT pg_notify($1, $2)', [CLUSTER_CHANNEL, payload])
          } catch (err) {
            // The events are hints (bus.ts): the sweeps send what they announced.
            log('warn', 'cluster: notify failed', { error: String(err) })
          }
        }
      }
    } finally {
      flushing = false
    }
  }

  await connect()

  return {
    instanceId,
    publish(event) {
      if (closed) return
      outbox.push(event)
      if (outbox.length === 1 && !flushing) setImmediate(() => void flush())
    },
    subscribe(handler) {
      handlers.push(handler)
    },
    isLeader: () => leader,
    async close() {
      if (closed) return
      await flush()
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      const c = client
      client = undefined
      leader = false
      // Ending the session releases the leader lock for the next instance.
      if (c) await c.end().catch(() => undefined)
    },
  }
}
