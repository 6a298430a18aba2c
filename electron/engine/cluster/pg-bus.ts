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
import type { ClusterBus, ClusterEvent, RemoteUser } from './bus'

/** NOTIFY channel of all instances. */
export const CLUSTER_CHANNEL = 'relay_cluster'
/** pg_advisory_lock key of the sweep leader ("relay" + 1). */
export const LEADER_LOCK_KEY = 0x72656c61_01
/** How often a follower tries to become leader (ms). */
export const LEADER_RETRY_MS = 1000
/** NOTIFY payloads must stay below 8000 bytes; events are split to fit. */
export const MAX_PAYLOAD_BYTES = 7000
/** How often the set of users connected to other instances is re-read without a change event (ms). */
export const USERS_REFRESH_MS = 5000
/**
 * The listener connection is probed this often (ms): a connection a NAT or a frozen host
 * dropped silently fires no event, and its instance would stay deaf (and, if leader, keep the
 * lock while doing nothing) until TCP gave up, hours later.
 */
export const PROBE_MS = 10_000
/** A probe not answered within this (ms) counts the connection as lost. */
export const PROBE_TIMEOUT_MS = 5000

/** Instances alive right now: each holds its listener session, named after it (application_name). */
const LIVE_INSTANCES = `SELECT substr(application_name, 14) FROM pg_stat_activity WHERE application_name LIKE 'relay-engine:%'`

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
    if ((event.k === 'mail' || event.k === 'replay') && event.agents.length > 1) {
      // Halve the agent list until each half fits.
      const half = Math.ceil(event.agents.length / 2)
      out.push(...packEvents(instanceId, [{ ...event, agents: event.agents.slice(0, half) }, { ...event, agents: event.agents.slice(half) }], maxBytes))
      continue
    }
    if (event.k === 'updated' && event.rows.length > 1) {
      const half = Math.ceil(event.rows.length / 2)
      out.push(...packEvents(instanceId, [{ ...event, rows: event.rows.slice(0, half) }, { ...event, rows: event.rows.slice(half) }], maxBytes))
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
  let remoteIds: ReadonlySet<string> = new Set()
  const userWrites = new Map<string, Promise<void>>()
  let refreshing: Promise<void> | undefined
  let refreshAgain = false

  /** Re-reads which agents have user clients on other live instances (coalesced). */
  const refreshUsers = (): void => {
    if (refreshing) {
      refreshAgain = true
      return
    }
    refreshing = pool
      .query<{ agent_id: string }>(`SELECT DISTINCT agent_id FROM user_sockets WHERE instance_id <> $1 AND instance_id IN (${LIVE_INSTANCES})`, [instanceId])
      .then((r) => {
        remoteIds = new Set(r.rows.map((x) => x.agent_id))
      })
      .catch((err: unknown) => log('warn', 'cluster: reading remote users failed', { error: String(err) }))
      .finally(() => {
        refreshing = undefined
        if (refreshAgain && !closed) {
          refreshAgain = false
          refreshUsers()
        }
      })
  }
  const usersTimer = setInterval(refreshUsers, USERS_REFRESH_MS)
  usersTimer.unref()

  /** Runs every handler on one event; a throwing handler does not stop the others. */
  const dispatch = (event: ClusterEvent) => {
    for (const h of handlers) {
      try {
        h(event)
      } catch (err) {
        log('error', 'cluster: event handler failed', { event: event.k, error: String(err) })
      }
    }
  }

  const deliver = (payload: string) => {
    const env = parseEnvelope(payload)
    if (!env) {
      log('warn', 'cluster: unreadable notification ignored', { bytes: payload.length })
      return
    }
    if (env.i === instanceId) return
    for (const event of env.e) {
      if (event.k === 'users') {
        refreshUsers()
        continue
      }
      if (event.k !== 'resync') dispatch(event)
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

  let connectedOnce = false
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString, application_name: `relay-engine:${instanceId}`, keepAlive: true })
    c.on('notification', (n) => {
      if (n.channel === CLUSTER_CHANNEL && n.payload) deliver(n.payload)
    })
    c.on('error', (err) => {
      log('warn', 'cluster: listener connection failed', { error: String(err) })
      lost(c)
    })
    c.on('end', () => lost(c))
    try {
      await c.connect()
      await c.query(`LISTEN ${CLUSTER_CHANNEL}`)
    } catch (err) {
      await c.end().catch(() => undefined)
      throw err
    }
    if (closed) {
      // close() ran while this was connecting: the session must not outlive it.
      await c.end().catch(() => undefined)
      return
    }
    client = c
    reconnectDelay = 100
    void tryLead()
    if (connectedOnce) {
      log('info', 'cluster: listening again; looking up what was announced meanwhile', { instance: instanceId })
      refreshUsers()
      dispatch({ k: 'resync' })
    }
    connectedOnce = true
  }

  /** A query on the listener connection with a deadline: a silent drop shows as a timeout. */
  const probe = async () => {
    const c = client
    if (!c || closed) return
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS)
    })
    try {
      await Promise.race([c.query('SELECT 1'), timeout])
    } catch (err) {
      log('warn', 'cluster: listener connection probe failed', { error: String(err) })
      lost(c)
    } finally {
      clearTimeout(timer)
    }
  }
  const probeTimer = setInterval(() => void probe(), PROBE_MS)
  probeTimer.unref()

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
        let payloads: string[]
        try {
          payloads = packEvents(instanceId, events)
        } catch (err) {
          log('error', 'cluster: events not sent', { error: String(err), events: events.length })
          continue
        }
        for (const payload of payloads) {
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
  // Rows of instances that died without cleaning up (a crash, a SIGKILL) are dead weight.
  await pool.query(`DELETE FROM user_sockets WHERE instance_id NOT IN (${LIVE_INSTANCES})`).catch((err: unknown) => {
    log('warn', 'cluster: cleaning user sockets of dead instances failed', { error: String(err) })
  })
  refreshUsers()

  const bus: ClusterBus = {
    instanceId,
    clustered: true,
    publish(event) {
      if (closed) return
      outbox.push(event)
      if (outbox.length === 1 && !flushing) setImmediate(() => void flush())
    },
    subscribe(handler) {
      handlers.push(handler)
    },
    isLeader: () => leader,
    userSockets(agentId, workspaceId, connections, connectedAt) {
      // One write at a time per agent, in call order (a reload's close and open must not land
      // the other way round on two pool connections); the row holds the latest count.
      const write = async () => {
        if (connections > 0) {
          await pool.query(
            `INSERT INTO user_sockets (instance_id, agent_id, workspace_id, connections, connected_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (instance_id, agent_id) DO UPDATE SET connections = EXCLUDED.connections, connected_at = EXCLUDED.connected_at`,
            [instanceId, agentId, workspaceId, connections, connectedAt])
        } else {
          await pool.query('DELETE FROM user_sockets WHERE instance_id = $1 AND agent_id = $2', [instanceId, agentId])
        }
        // Announced only after the row is written, so a re-read sees it.
        bus.publish({ k: 'users' })
      }
      const next = (userWrites.get(agentId) ?? Promise.resolve())
        .then(write)
        .catch((err: unknown) => log('warn', 'cluster: recording user sockets failed', { agent_id: agentId, error: String(err) }))
      userWrites.set(agentId, next)
      void next.then(() => {
        if (userWrites.get(agentId) === next) userWrites.delete(agentId)
      })
    },
    async remoteUsers(workspaceId) {
      const r = await pool.query<{ agent_id: string; connections: number; connected_at: number }>(
        `SELECT agent_id, SUM(connections)::int AS connections, MIN(connected_at) AS connected_at FROM user_sockets
         WHERE workspace_id = $1 AND instance_id <> $2 AND instance_id IN (${LIVE_INSTANCES}) GROUP BY agent_id`,
        [workspaceId, instanceId],
      )
      return r.rows.map((x): RemoteUser => ({ agentId: x.agent_id, connections: Number(x.connections), connectedAt: Number(x.connected_at) }))
    },
    remoteUserIds: () => remoteIds,
    async close() {
      if (closed) return
      clearInterval(usersTimer)
      clearInterval(probeTimer)
      await Promise.all([...userWrites.values()])
      await pool.query('DELETE FROM user_sockets WHERE instance_id = $1', [instanceId]).catch(() => undefined)
      outbox.push({ k: 'users' })
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
  return bus
}
