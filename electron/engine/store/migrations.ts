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
]
