/**
 * Versioned schema. Each entry runs once, in order, inside a transaction, and
 * bumps `PRAGMA user_version`; never edit a shipped entry, append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE workspaces (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    version TEXT NOT NULL,
    machine_id TEXT,
    capabilities TEXT NOT NULL,
    tags TEXT NOT NULL,
    max_agents INTEGER NOT NULL,
    delivery_adapter TEXT,
    status TEXT NOT NULL,
    handlers_live INTEGER NOT NULL,
    load REAL,
    active_agents INTEGER NOT NULL,
    last_heartbeat_at INTEGER,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    node_id TEXT,
    delivery_seq INTEGER NOT NULL DEFAULT 0,
    delivery_ack_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE INDEX agents_node ON agents(node_id);
  CREATE TABLE channels (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    name TEXT NOT NULL,
    topic TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
  );
  CREATE TABLE channel_members (
    channel_id TEXT NOT NULL REFERENCES channels(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (channel_id, agent_id)
  );
  CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    agent_a TEXT NOT NULL,
    agent_b TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, agent_a, agent_b)
  );
  CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    agent_id TEXT NOT NULL,
    channel_id TEXT,
    conversation_id TEXT,
    text TEXT NOT NULL,
    mode TEXT NOT NULL,
    attachments TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX messages_channel ON messages(channel_id);
  CREATE INDEX messages_conversation ON messages(conversation_id);
  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    message_id TEXT NOT NULL REFERENCES messages(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    delivered_at INTEGER,
    acked_at INTEGER,
    dead_lettered_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (agent_id, seq)
  );
  CREATE INDEX deliveries_agent ON deliveries(agent_id, status, seq);
  CREATE INDEX deliveries_message ON deliveries(message_id);
  CREATE INDEX deliveries_expiry ON deliveries(status, expires_at);
  `,
  // 2: threads, group DMs, read receipts, FTS5 search, dead-letter reasons and
  // failures, agent credential/presence columns, node reservations, invocations.
  `
  ALTER TABLE messages ADD COLUMN thread_id TEXT;
  CREATE INDEX messages_thread ON messages(thread_id);
  ALTER TABLE conversations ADD COLUMN kind TEXT NOT NULL DEFAULT 'dm';
  ALTER TABLE conversations ADD COLUMN name TEXT;
  CREATE TABLE conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, agent_id)
  );
  CREATE INDEX conversation_members_agent ON conversation_members(agent_id);
  INSERT INTO conversation_members (conversation_id, agent_id, joined_at) SELECT id, agent_a, created_at FROM conversations;
  INSERT OR IGNORE INTO conversation_members (conversation_id, agent_id, joined_at) SELECT id, agent_b, created_at FROM conversations;
  ALTER TABLE deliveries ADD COLUMN reason TEXT;
  ALTER TABLE deliveries ADD COLUMN failed_at INTEGER;
  CREATE TABLE delivery_failures (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    message_id TEXT NOT NULL REFERENCES messages(id),
    recipient_id TEXT NOT NULL REFERENCES agents(id),
    sender_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX delivery_failures_message ON delivery_failures(message_id);
  CREATE TABLE message_reads (
    message_id TEXT NOT NULL REFERENCES messages(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    read_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, agent_id)
  );
  CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='rowid');
  INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
  CREATE TRIGGER messages_fts_ai AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text);
  END;
  CREATE TRIGGER messages_fts_ad AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
  END;
  ALTER TABLE agents ADD COLUMN origin_node_id TEXT;
  ALTER TABLE agents ADD COLUMN last_seen_at INTEGER;
  ALTER TABLE agents ADD COLUMN wire_seq_base INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE agents ADD COLUMN revoked_at INTEGER;
  ALTER TABLE nodes ADD COLUMN reserved_agents INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE action_invocations (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id),
    action_name TEXT NOT NULL,
    capability TEXT NOT NULL,
    caller_id TEXT,
    input TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    target_node_id TEXT,
    dispatched_node_id TEXT,
    attempted_node_ids TEXT NOT NULL DEFAULT '[]',
    dispatch_attempts INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    retry_after_at INTEGER,
    dispatched_at INTEGER,
    output TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
  );
  CREATE INDEX action_invocations_open ON action_invocations(status, retry_after_at);
  CREATE INDEX action_invocations_node ON action_invocations(dispatched_node_id, status);
  `,
  // 3: the in-flight count (depth cap) on every post reads only this index.
  `
  CREATE INDEX deliveries_inflight ON deliveries(agent_id, status, expires_at);
  `,
  // 4: group commit (see mailbox/writer.ts). The store writes a message's FTS row itself,
  // once per transaction after its posts (SqliteMail.writing): an FTS5 table flushes its
  // pending terms as a new segment at every savepoint, and the trigger-driven insert opened
  // one per message, most of a post's cost. Every unfinished row lies above its agent's ack
  // cursor, so the per-agent queries range over UNIQUE(agent_id, seq) from the cursor up and
  // the two (agent_id, status, …) indexes go: each cost an entry per post and a move per
  // status change (queued → delivered → acked), the bulk of the pages a commit wrote.
  // The message indexes skip NULLs (a DM has no channel, most messages no thread), and the
  // FTS table keeps no per-row sizes (nothing ranks by bm25): pages a post no longer writes.
  `
  DROP TRIGGER messages_fts_ai;
  DROP INDEX deliveries_agent;
  DROP INDEX deliveries_inflight;
  DROP INDEX messages_channel;
  DROP INDEX messages_conversation;
  DROP INDEX messages_thread;
  CREATE INDEX messages_channel ON messages(channel_id) WHERE channel_id IS NOT NULL;
  CREATE INDEX messages_conversation ON messages(conversation_id) WHERE conversation_id IS NOT NULL;
  CREATE INDEX messages_thread ON messages(thread_id) WHERE thread_id IS NOT NULL;
  DROP TABLE messages_fts;
  CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='rowid', columnsize=0);
  INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
  `,
  // 5: the socket that registered a node last (NodeRegisterPatch.socketId): a late close of
  // an older socket must not take the node offline.
  `
  ALTER TABLE nodes ADD COLUMN socket_id TEXT;
  `,
]
