/**
 * PostgreSQL schema, versioned like the SQLite one (never edit a shipped entry, append a
 * new one). Applied versions are rows of `schema_migrations` (version, applied_at). A run
 * takes a transaction-scoped advisory lock first, so several engine instances starting
 * together on one database apply each version exactly once: the others wait on the lock,
 * then find nothing left to do.
 *
 * Types: times are BIGINT epoch ms, seqs BIGINT, JSON fields JSONB, flags BOOLEAN. Ids and
 * names are COLLATE "C" so ORDER BY name is byte order whatever the cluster's locale
 * (as in SQLite). `messages.pos` replaces SQLite's rowid (insertion order); search uses a
 * generated `tsvector` column with a GIN index, tokenised like FTS5's unicode61 (see below).
 */
import type { Pool } from 'pg'
import { tx } from './db'

/** pg_advisory_xact_lock key of the migrator ("relay-mig" as a number, stable). */
export const MIGRATION_LOCK_KEY = 0x72656c61796d

export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE workspaces (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
  );
  CREATE TABLE nodes (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    name TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    version TEXT NOT NULL,
    machine_id TEXT,
    capabilities JSONB NOT NULL,
    tags JSONB NOT NULL,
    max_agents INTEGER NOT NULL,
    delivery_adapter TEXT,
    status TEXT NOT NULL,
    handlers_live BOOLEAN NOT NULL DEFAULT false,
    load DOUBLE PRECISION,
    active_agents INTEGER NOT NULL DEFAULT 0,
    reserved_agents INTEGER NOT NULL DEFAULT 0,
    last_heartbeat_at BIGINT,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE INDEX nodes_machine ON nodes(workspace_id, machine_id);
  CREATE INDEX nodes_online ON nodes(last_heartbeat_at) WHERE status = 'online';
  CREATE TABLE agents (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    name TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata JSONB NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    node_id TEXT COLLATE "C",
    delivery_seq BIGINT NOT NULL DEFAULT 0,
    delivery_ack_seq BIGINT NOT NULL DEFAULT 0,
    origin_node_id TEXT COLLATE "C",
    last_seen_at BIGINT,
    wire_seq_base BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE INDEX agents_node ON agents(node_id);
  CREATE TABLE channels (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    name TEXT COLLATE "C" NOT NULL,
    topic TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE TABLE channel_members (
    channel_id TEXT COLLATE "C" NOT NULL REFERENCES channels(id),
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, agent_id)
  );
  CREATE INDEX channel_members_agent ON channel_members(agent_id);
  CREATE TABLE conversations (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    kind TEXT NOT NULL DEFAULT 'dm',
    name TEXT,
    agent_a TEXT COLLATE "C" NOT NULL,
    agent_b TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, agent_a, agent_b)
  );
  CREATE TABLE conversation_members (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id),
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
  );
  CREATE INDEX conversation_members_agent ON conversation_members(agent_id);
  -- Search, shaped like the SQLite store's FTS5 (unicode61): words are runs of letters and
  -- digits (every punctuation mark separates, so paths, URLs and e-mail addresses are words
  -- too), case-folded, diacritics removed where the unaccent extension (trusted, in contrib)
  -- can be installed. No stemming, no stop words ('simple').
  DO $$
  BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent') THEN
      BEGIN
        CREATE EXTENSION IF NOT EXISTS unaccent;
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'unaccent not installed (no privilege): search will not fold diacritics';
      END;
    END IF;
  END $$;
  CREATE TEXT SEARCH CONFIGURATION relay_search (COPY = pg_catalog.simple);
  DO $$
  BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'unaccent') THEN
      ALTER TEXT SEARCH CONFIGURATION relay_search
        ALTER MAPPING FOR word, numword, hword, numhword, hword_part, hword_numpart WITH unaccent, simple;
    END IF;
  END $$;
  CREATE TABLE messages (
    pos BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    agent_id TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C",
    conversation_id TEXT COLLATE "C",
    text TEXT NOT NULL,
    mode TEXT NOT NULL,
    attachments JSONB NOT NULL,
    thread_id TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    search_vector tsvector GENERATED ALWAYS AS
      (to_tsvector('relay_search'::regconfig, regexp_replace(text, '[[:punct:][:space:]]+', ' ', 'g'))) STORED
  );
  CREATE INDEX messages_channel ON messages(channel_id, pos) WHERE thread_id IS NULL;
  CREATE INDEX messages_conversation ON messages(conversation_id, pos) WHERE thread_id IS NULL;
  CREATE INDEX messages_thread ON messages(thread_id, pos);
  CREATE INDEX messages_search ON messages USING GIN (search_vector);
  CREATE TABLE deliveries (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages(id),
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    seq BIGINT NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    delivered_at BIGINT,
    acked_at BIGINT,
    dead_lettered_at BIGINT,
    reason TEXT,
    failed_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (agent_id, seq)
  );
  CREATE INDEX deliveries_message ON deliveries(message_id);
  CREATE INDEX deliveries_inflight ON deliveries(agent_id, status, expires_at);
  CREATE INDEX deliveries_expiry ON deliveries(status, expires_at);
  CREATE TABLE delivery_failures (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages(id),
    recipient_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    sender_id TEXT COLLATE "C" NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX delivery_failures_message ON delivery_failures(message_id);
  CREATE TABLE message_reads (
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages(id),
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
    read_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, agent_id)
  );
  CREATE TABLE action_invocations (
    id TEXT COLLATE "C" PRIMARY KEY,
    workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces(id),
    action_name TEXT NOT NULL,
    capability TEXT NOT NULL,
    caller_id TEXT COLLATE "C",
    input JSONB NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    target_node_id TEXT COLLATE "C",
    dispatched_node_id TEXT COLLATE "C",
    attempted_node_ids JSONB NOT NULL DEFAULT '[]',
    dispatch_attempts INTEGER NOT NULL DEFAULT 0,
    reserved BOOLEAN NOT NULL DEFAULT false,
    retry_after_at BIGINT,
    dispatched_at BIGINT,
    output JSONB,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
  );
  CREATE INDEX action_invocations_open ON action_invocations(status, retry_after_at);
  CREATE INDEX action_invocations_node ON action_invocations(dispatched_node_id, status);
  CREATE INDEX action_invocations_target ON action_invocations(target_node_id, status);
  `,
  // 2: the socket that registered a node last (see the SQLite migration 5), and the human
  // clients each engine instance holds (presence across instances, cluster/pg-bus.ts).
  `
  ALTER TABLE nodes ADD COLUMN socket_id TEXT COLLATE "C";
  CREATE TABLE user_sockets (
    instance_id TEXT COLLATE "C" NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    workspace_id TEXT COLLATE "C" NOT NULL,
    connections INTEGER NOT NULL,
    connected_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, agent_id)
  );
  CREATE INDEX user_sockets_workspace ON user_sockets(workspace_id);
  `,
]

export interface MigrationResult {
  /** Versions this call applied (empty when the schema was already current). */
  applied: number[]
  /** Highest version recorded afterwards. */
  version: number
}

/** Brings the database to the latest schema; safe to call from several instances at once. */
export async function migratePg(pool: Pool, now: () => number = Date.now): Promise<MigrationResult> {
  return tx(pool, async (c) => {
    // Serialises concurrent migrators (also their CREATE TABLE IF NOT EXISTS below, which
    // is not itself safe against a concurrent creator). Released at COMMIT/ROLLBACK.
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)')
    const done = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)))
    const applied: number[] = []
    for (let v = 1; v <= PG_MIGRATIONS.length; v++) {
      if (done.has(v)) continue
      await c.query(PG_MIGRATIONS[v - 1])
      await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [v, now()])
      applied.push(v)
    }
    const top = await c.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations')
    return { applied, version: Number(top.rows[0]?.v ?? 0) }
  })
}
