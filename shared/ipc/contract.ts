/**
 * The IPC contract: the seam between the host (Electron main or the headless server)
 * and the renderer. Commands have a request and a result schema; events have a payload
 * schema. Both transports (Electron IPC, the authenticated loopback WebSocket) carry
 * exactly this, and both validate every request at the host edge.
 * No Node or DOM APIs here.
 */
import { z } from 'zod'

// ---- shared value types ----------------------------------------------------

export const nodeStateSchema = z.enum(['starting', 'connecting', 'connected', 'reconnecting', 'disconnected'])
export type NodeState = z.infer<typeof nodeStateSchema>

export const nodeStatusSchema = z.object({
  state: nodeStateSchema,
  /** Why the node is not connected, in words a person understands. */
  reason: z.string().optional(),
  nodeName: z.string(),
  nodeId: z.string(),
  engineUrl: z.string(),
  embeddedEngine: z.boolean(),
  workspaceId: z.string().optional(),
  /** Human identity the UI sends as. */
  userName: z.string().optional(),
  lastHeartbeatAt: z.number().optional(),
  agentsOnline: z.number().int().nonnegative(),
  /** Messages to the user that arrived while the window was not focused. */
  userUnread: z.number().int().nonnegative().optional(),
})
export type NodeStatus = z.infer<typeof nodeStatusSchema>

export const agentStatusSchema = z.enum(['starting', 'running', 'exited', 'failed'])
export type AgentStatus = z.infer<typeof agentStatusSchema>

/**
 * What a running agent is doing. For CLIs Relay can read (Claude Code, Codex, Gemini CLI,
 * opencode) from their screen: `starting`, `working` (a turn in progress), `idle`
 * (waiting for input), `needs_approval` (a permission prompt), `dialog` (another
 * question on screen). For other programs from output timing: `working` (printed
 * recently) or `idle` (quiet for the idle threshold).
 */
export const agentActivitySchema = z.enum(['starting', 'working', 'idle', 'needs_approval', 'dialog'])
export type AgentActivity = z.infer<typeof agentActivitySchema>

export const agentInfoSchema = z.object({
  name: z.string(),
  command: z.string(),
  args: z.array(z.string()),
  cwd: z.string(),
  status: agentStatusSchema,
  pid: z.number().int().optional(),
  agentId: z.string().optional(),
  exitCode: z.number().int().nullable().optional(),
  error: z.string().optional(),
  startedAt: z.number(),
  /** Deliveries waiting to be typed into this agent (e.g. while the user types). */
  pendingInjections: z.number().int().nonnegative(),
  /** Channels joined at spawn. */
  channels: z.array(z.string()).optional(),
  /** Respawned when the app starts again. */
  restart: z.boolean().optional(),
  /** Absent before anything is known (a plain program that printed nothing yet). */
  activity: agentActivitySchema.optional(),
  /** What a permission prompt or dialog asks, as shown on the agent's screen. */
  activityDetail: z.string().optional(),
  /** Something about this agent wants the user (it crashed, or it waits for input) and they haven't looked yet. */
  attention: z.boolean().optional(),
  /** Known from an earlier run of the app but not started in this one. */
  dormant: z.boolean().optional(),
  /** The agent runs in its own git worktree (spawned with `worktree`). */
  worktree: z.lazy(() => agentWorktreeSchema).optional(),
})
export type AgentInfo = z.infer<typeof agentInfoSchema>

// ---- worktrees and review ---------------------------------------------------

/** An agent's own git worktree: a branch of its repository checked out under the data folder (or a chosen root). */
export const agentWorktreeSchema = z.object({
  /** The worktree's folder (the agent's working folder is this or a subfolder of it). */
  path: z.string(),
  branch: z.string(),
  /** The commit the branch started from: the diff is taken against it. */
  baseCommit: z.string(),
  /** The repository the worktree belongs to. */
  repoRoot: z.string(),
})
export type AgentWorktreeInfo = z.infer<typeof agentWorktreeSchema>

/** What the spawn dialog learns about a folder before offering "own worktree". */
export const folderInfoSchema = z.discriminatedUnion('isRepo', [
  z.object({ isRepo: z.literal(false), reason: z.string() }),
  z.object({
    isRepo: z.literal(true),
    root: z.string(),
    /** Checked-out branch; null on a detached HEAD. */
    branch: z.string().nullable(),
    /** Commit at HEAD; null in a repository without commits (a worktree needs one). */
    head: z.string().nullable(),
    /** Uncommitted changes in the folder: they are not in a new worktree (it starts from HEAD). */
    dirty: z.boolean(),
    changes: z.number().int().nonnegative(),
    /** A free branch name for the agent, if one was given. */
    suggestedBranch: z.string().optional(),
  }),
])
export type FolderInfo = z.infer<typeof folderInfoSchema>

export const worktreeStatusSchema = z.object({
  clean: z.boolean(),
  staged: z.number().int().nonnegative(),
  unstaged: z.number().int().nonnegative(),
  untracked: z.number().int().nonnegative(),
  /** Paths with uncommitted work (at most 200), for the stop dialog. */
  files: z.array(z.string()),
  /** Commits on the agent's branch since its base. */
  commits: z.number().int().nonnegative().nullable(),
})
export type WorktreeStatusInfo = z.infer<typeof worktreeStatusSchema>

export const diffLineSchema = z.object({
  kind: z.enum(['add', 'del', 'context']),
  text: z.string(),
  oldLine: z.number().int().nullable(),
  newLine: z.number().int().nullable(),
  noNewline: z.literal(true).optional(),
  cut: z.literal(true).optional(),
})
export type DiffLineInfo = z.infer<typeof diffLineSchema>

export const diffFileSchema = z.object({
  path: z.string(),
  oldPath: z.string().optional(),
  status: z.enum(['added', 'modified', 'deleted', 'renamed', 'copied']),
  untracked: z.boolean(),
  binary: z.boolean(),
  additions: z.number().int().nonnegative(),
  deletions: z.number().int().nonnegative(),
  hunks: z.array(z.object({ header: z.string(), oldStart: z.number().int(), newStart: z.number().int(), lines: z.array(diffLineSchema) })),
  truncated: z.boolean(),
})
export type DiffFileInfo = z.infer<typeof diffFileSchema>

export const agentDiffSchema = z.object({
  name: z.string(),
  baseCommit: z.string(),
  branch: z.string(),
  commits: z.number().int().nonnegative().nullable(),
  files: z.array(diffFileSchema),
  additions: z.number().int().nonnegative(),
  deletions: z.number().int().nonnegative(),
  truncated: z.boolean(),
})
export type AgentDiffInfo = z.infer<typeof agentDiffSchema>

/**
 * A message's lifecycle as this node sees it. `sent` = accepted by the engine;
 * `received` = the broker got the deliver frame; `queued` = waiting for its turn in
 * the agent's injector; `typed` = text + Enter written to the PTY; `verified` = echo
 * seen; `acked` = delivery.ack sent to the engine.
 */
export const messageStateSchema = z.enum([
  'sending',
  'sent',
  'received',
  'queued',
  'typed',
  'verified',
  'acked',
  'failed',
  'expired',
])
export type MessageState = z.infer<typeof messageStateSchema>

export const messageStepSchema = z.object({ state: messageStateSchema, at: z.number(), detail: z.string().optional() })
export type MessageStep = z.infer<typeof messageStepSchema>

export const feedMessageSchema = z.object({
  /** Engine message id, or a local id while still sending. */
  id: z.string(),
  from: z.string(),
  to: z.string(),
  text: z.string(),
  /** `in`: delivered to an agent of this node, or to the human user. `out`: sent from this app's user. */
  direction: z.enum(['in', 'out']),
  state: messageStateSchema,
  steps: z.array(messageStepSchema),
  error: z.string().optional(),
  /** `#name` when the message went to a channel. */
  channel: z.string().optional(),
  /** The local placeholder id this message takes over (the UI drops that one). */
  replaces: z.string().optional(),
  /** True when the message is addressed to this app's human user. */
  toUser: z.boolean().optional(),
})
export type FeedMessage = z.infer<typeof feedMessageSchema>

export const notificationKindSchema = z.enum(['agentExited', 'agentIdle', 'agentBlocked', 'messageToUser', 'deliveryFailed'])
export type NotificationKind = z.infer<typeof notificationKindSchema>

export const notificationPrefsSchema = z.object({
  agentExited: z.boolean(),
  agentIdle: z.boolean(),
  /** An agent asks for approval or shows a dialog. */
  agentBlocked: z.boolean(),
  messageToUser: z.boolean(),
  deliveryFailed: z.boolean(),
  /** Seconds of silence after output before an agent counts as waiting for input. */
  idleSeconds: z.number().int().min(3).max(3600),
})
export type NotificationPrefs = z.infer<typeof notificationPrefsSchema>

/** Settings as the UI sees them: never a key or token, only whether one is set. */
export const settingsViewSchema = z.object({
  engine: z.object({
    mode: z.enum(['embedded', 'remote']),
    url: z.string().optional(),
    workspaceKeySet: z.boolean(),
  }),
  nodeName: z.string().optional(),
  notifications: notificationPrefsSchema,
  startAtLogin: z.boolean(),
  closeToTray: z.boolean(),
  /** Agents spawned from now on skip every permission prompt (off: only the relay's own tools are pre-approved). */
  skipPermissionPrompts: z.boolean(),
  /** Engine or node name changed since the node started: a node restart applies it. */
  restartRequired: z.boolean(),
  /** Where the engine/key came from when it was not the settings file (CLI flags, env). */
  engineOverridden: z.boolean(),
})
export type SettingsView = z.infer<typeof settingsViewSchema>

export const appInfoSchema = z.object({
  mode: z.enum(['electron', 'headless']),
  platform: z.string(),
  version: z.string(),
  canPickDirectory: z.boolean(),
  canStartAtLogin: z.boolean(),
  nativeNotifications: z.boolean(),
  dataDir: z.string(),
  homeDir: z.string(),
})
export type AppInfo = z.infer<typeof appInfoSchema>

export const notificationSchema = z.object({
  id: z.string(),
  kind: notificationKindSchema,
  title: z.string(),
  body: z.string(),
  agent: z.string().optional(),
  messageId: z.string().optional(),
  at: z.number(),
  /** Earlier notifications of the same kind and agent merged into this one. */
  merged: z.number().int().nonnegative(),
})
export type AppNotification = z.infer<typeof notificationSchema>

export const channelName = z
  .string()
  .trim()
  .transform((n) => n.replace(/^#/, ''))
  .pipe(z.string().min(1, 'channel name is empty').max(80).regex(/^[A-Za-z0-9._-]+$/, 'channel names use letters, digits, ".", "_" and "-"'))

const agentName = z
  .string()
  .trim()
  .min(1, 'name is required')
  .max(64, 'name is at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'name may use letters, digits, ".", "_" and "-", and must start with a letter or digit')

// ---- commands --------------------------------------------------------------

const empty = z.object({}).strict()
const ok = z.object({ ok: z.literal(true) })

export const commands = {
  'node.status': { request: empty, result: nodeStatusSchema },
  'node.reconnect': { request: empty, result: ok },
  'agents.list': { request: empty, result: z.array(agentInfoSchema) },
  /** Agent CLIs found on the host's PATH, for the spawn dialog. */
  'agents.detect': {
    request: empty,
    result: z.object({ clis: z.array(z.object({ name: z.string(), path: z.string() })) }),
  },
  'agents.spawn': {
    request: z
      .object({
        name: agentName,
        command: z.string().trim().min(1, 'command is required'),
        args: z.array(z.string()).default([]),
        cwd: z.string().optional(),
        channels: z.array(channelName).max(32).default([]),
        /** Respawn this agent when the app starts again. */
        restart: z.boolean().default(false),
        /**
         * Run the agent in its own git worktree of the repository `cwd` is in: a new branch
         * (default: relay/<agent name>) checked out under `root` (default: the data folder's
         * worktrees/). The agent starts in the same subfolder of it that `cwd` was.
         */
        worktree: z
          .object({
            branch: z.string().trim().min(1, 'branch name is empty').max(200).optional(),
            root: z.string().trim().min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    result: agentInfoSchema,
  },
  /**
   * Stop an agent. One in its own worktree: `worktree` says what becomes of it — `keep` (the
   * default), `remove-if-clean` (refused with code worktree_dirty, listing the files, if it
   * has uncommitted work), or `remove` (uncommitted work is deleted: only with
   * `discardChanges: true`, else worktree_dirty too). Removing also deletes the branch when
   * it has no commits of its own.
   */
  'agents.stop': {
    request: z
      .object({
        name: agentName,
        worktree: z.enum(['keep', 'remove-if-clean', 'remove']).optional(),
        discardChanges: z.boolean().optional(),
      })
      .strict(),
    result: ok,
  },
  /** Is this folder in a git repository (and may an agent get its own worktree of it)? */
  'worktree.inspect': {
    request: z.object({ path: z.string().trim().min(1, 'folder is required'), agentName: z.string().trim().max(64).optional() }).strict(),
    result: folderInfoSchema,
  },
  /** Uncommitted work in an agent's worktree (for the stop dialog). */
  'worktree.status': { request: z.object({ name: agentName }).strict(), result: worktreeStatusSchema },
  /**
   * The agent's changes against its base commit: commits since, staged, unstaged and
   * untracked files. `diff.changed` tells when to ask again.
   */
  'diff.get': { request: z.object({ name: agentName }).strict(), result: agentDiffSchema },
  /**
   * A review comment on lines of the agent's diff, sent to the agent as a relay message from
   * the user (it shows in the feed like any message). Lines are numbers of the file's new
   * version (`side: 'new'`) or, for deleted lines, of the base (`side: 'old'`).
   */
  'review.comment': {
    request: z
      .object({
        name: agentName,
        path: z.string().min(1).max(4096),
        side: z.enum(['old', 'new']).default('new'),
        startLine: z.number().int().positive(),
        endLine: z.number().int().positive(),
        comment: z.string().trim().min(1, 'comment is empty').max(16_000),
      })
      .strict()
      .refine((r) => r.endLine >= r.startLine, { message: 'endLine must not be before startLine', path: ['endLine'] }),
    result: feedMessageSchema,
  },
  /** Start a stopped (or remembered) agent again with its command, args, folder and channels. */
  'agents.start': { request: z.object({ name: agentName }).strict(), result: agentInfoSchema },
  /** Forget a stopped agent: its row, terminal and the restart entry. */
  'agents.remove': { request: z.object({ name: agentName }).strict(), result: ok },
  'terminal.write': {
    request: z.object({ name: agentName, data: z.string().max(1 << 20) }).strict(),
    result: ok,
  },
  'terminal.resize': {
    request: z
      .object({ name: agentName, cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(1000) })
      .strict(),
    result: ok,
  },
  /** Scrollback kept by the host, so a terminal opened later shows what happened. */
  'terminal.snapshot': { request: z.object({ name: agentName }).strict(), result: z.object({ data: z.string() }) },
  /**
   * This connection wants the agent's output: the result is the host's scrollback, and from
   * then on `terminal.output` events for that agent (and only for subscribed agents) follow,
   * exactly the bytes after the scrollback. A window subscribes to the terminals on screen;
   * the rest of the agents cost it nothing (their activity still arrives in agent.changed).
   */
  'terminal.subscribe': { request: z.object({ name: agentName }).strict(), result: z.object({ data: z.string() }) },
  'terminal.unsubscribe': { request: z.object({ name: agentName }).strict(), result: ok },
  /**
   * Flow control: this connection has processed `chars` more characters of the agent's
   * output. While a subscriber leaves more than OUTPUT_HIGH_WATERMARK characters
   * unacknowledged, the agent's PTY is paused (its program blocks on write); it resumes
   * once every subscriber is below OUTPUT_LOW_WATERMARK. Ack every OUTPUT_ACK_CHARS.
   */
  'terminal.ack': {
    request: z.object({ name: agentName, chars: z.number().int().positive().max(1 << 30) }).strict(),
    result: ok,
  },
  'messages.list': { request: empty, result: z.array(feedMessageSchema) },
  /** `to` is an agent name, or `#channel` (the user joins it first, creating it if needed). */
  'messages.send': {
    request: z
      .object({
        to: z
          .string()
          .trim()
          .min(1, 'recipient is required')
          .regex(/^#?[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'recipient is an agent name or #channel'),
        text: z.string().min(1, 'message is empty').max(64_000),
      })
      .strict(),
    result: feedMessageSchema,
  },
  'settings.get': { request: empty, result: settingsViewSchema },
  /** Only the fields given change. A workspace key is write-only: it never comes back. */
  'settings.set': {
    request: z
      .object({
        engine: z
          .discriminatedUnion('mode', [
            z.object({ mode: z.literal('embedded') }).strict(),
            z
              .object({
                mode: z.literal('remote'),
                url: z.string().trim().url('engine URL must be a URL such as https://relay.example.com'),
                /** Omitted: keep the key already set. */
                workspaceKey: z.string().trim().startsWith('rk_', 'a workspace key starts with rk_').optional(),
              })
              .strict(),
          ])
          .optional(),
        nodeName: z
          .string()
          .trim()
          .max(64, 'node name is at most 64 characters')
          .regex(/^[A-Za-z0-9._ -]*$/, 'node name may use letters, digits, space, ".", "_" and "-"')
          .optional(),
        notifications: notificationPrefsSchema.partial().strict().optional(),
        startAtLogin: z.boolean().optional(),
        closeToTray: z.boolean().optional(),
        skipPermissionPrompts: z.boolean().optional(),
      })
      .strict(),
    result: settingsViewSchema,
  },
  /** Stop and start the broker (and embedded engine) in-process, applying engine/node settings. Agents marked restart come back. */
  'node.restart': { request: empty, result: ok },
  'app.info': { request: empty, result: appInfoSchema },
  /** A folder picker; only where the host has a native dialog (Electron). */
  'dialog.pickDirectory': {
    request: z.object({ defaultPath: z.string().optional() }).strict(),
    result: z.object({ path: z.string().nullable() }),
  },
  /** What the user is looking at, so the host doesn't notify about it. */
  'ui.viewing': {
    request: z.object({ agent: z.string().nullable(), focused: z.boolean() }).strict(),
    result: ok,
  },
  /** Host process figures for the benchmark (no secrets). */
  'debug.metrics': {
    request: empty,
    result: z.object({
      cpuUserUs: z.number(),
      cpuSystemUs: z.number(),
      heapUsed: z.number(),
      rss: z.number(),
      uptimeMs: z.number(),
      /** Event-loop delay since the previous call. */
      loopDelayP50Ms: z.number(),
      loopDelayP99Ms: z.number(),
      /**
       * Share of wall time the event loop was busy since the previous call (0–1). Delay with
       * low utilization means the process waited for a CPU, not for its own work.
       */
      loopUtilization: z.number().optional(),
    }),
  },
} as const

/** Output flow control (VS Code's FlowControlConstants): see `terminal.ack`. */
export const OUTPUT_HIGH_WATERMARK = 100_000
export const OUTPUT_LOW_WATERMARK = 5_000
export const OUTPUT_ACK_CHARS = 5_000

/** Commands that act on the calling connection (its subscriptions and acks), not the host as a whole. */
export const connectionCommands = ['terminal.subscribe', 'terminal.unsubscribe', 'terminal.ack'] as const
export type ConnectionCommand = (typeof connectionCommands)[number]
export function isConnectionCommand(name: string): name is ConnectionCommand {
  return (connectionCommands as readonly string[]).includes(name)
}

export type Commands = typeof commands
export type CommandName = keyof Commands
export type CommandRequest<C extends CommandName> = z.input<Commands[C]['request']>
export type ParsedRequest<C extends CommandName> = z.output<Commands[C]['request']>
export type CommandResult<C extends CommandName> = z.output<Commands[C]['result']>

// ---- events ----------------------------------------------------------------

export const events = {
  'node.status': nodeStatusSchema,
  'agent.changed': agentInfoSchema,
  'agent.removed': z.object({ name: z.string() }),
  'terminal.output': z.object({ name: z.string(), data: z.string() }),
  'message.changed': feedMessageSchema,
  'settings.changed': settingsViewSchema,
  /** The host decided the user should know; Electron shows it natively, headless as a toast. */
  notification: notificationSchema,
  /** The tray (or a notification click) asks the window to show an agent's terminal. */
  'ui.focusAgent': z.object({ name: z.string() }),
  'ui.openSpawn': z.object({}),
  'ui.openSettings': z.object({}),
  /** Files changed in an agent's worktree: ask diff.get again if it is on screen. */
  'diff.changed': z.object({ name: z.string() }),
} as const

export type Events = typeof events
export type EventName = keyof Events
export type EventPayload<E extends EventName> = z.output<Events[E]>

export const commandNames = Object.keys(commands) as CommandName[]
export const eventNames = Object.keys(events) as EventName[]

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(commands, name)
}

/** Errors cross the contract as values: a code and a message a person understands. */
export interface ContractError {
  code: string
  message: string
}

export type CommandOutcome<C extends CommandName> =
  | { ok: true; result: CommandResult<C> }
  | { ok: false; error: ContractError }

/** Validate a request at the host edge; returns a readable error instead of throwing. */
export function parseRequest<C extends CommandName>(
  command: C,
  request: unknown,
): { ok: true; value: ParsedRequest<C> } | { ok: false; error: ContractError } {
  const parsed = commands[command].request.safeParse(request ?? {})
  if (parsed.success) return { ok: true, value: parsed.data as ParsedRequest<C> }
  const issue = parsed.error.issues[0]
  const field = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  return { ok: false, error: { code: 'invalid_request', message: `${field}${issue?.message ?? 'invalid request'}` } }
}

/**
 * The headless transport's frames (one JSON object per WebSocket text message).
 * The Electron transport carries the same command/request/result over ipc.
 */
export const wsClientFrameSchema = z.object({
  id: z.number().int(),
  command: z.string(),
  request: z.unknown().optional(),
})
export type WsClientFrame = z.infer<typeof wsClientFrameSchema>

/**
 * Server → client. Frames the server has ready within one turn of its event loop go out as
 * one `batch` message (a lone frame as itself), in order. Events reach a connection at most
 * once a frame (electron/host/connection.ts), and every event emitted before a command's
 * result precedes that result.
 */
export type WsServerFrame =
  | { kind: 'result'; id: number; outcome: CommandOutcome<CommandName> }
  | { kind: 'event'; event: EventName; payload: unknown }

export type WsServerMessage = WsServerFrame | { kind: 'batch'; frames: WsServerFrame[] }
