/**
 * The app with real agent CLIs: a host (embedded engine + broker + real PTYs) whose
 * agents find the rig's pinned CLIs on PATH and a HOME seeded for all four, talking to
 * the scripted model server. Everything goes through the host's IPC contract, as the UI
 * does.
 *
 * The seeded HOME stands for the user's own CLI settings: `homeDigest()` lets a test
 * prove Relay never wrote to them (everything Relay needs goes in flags or files in the
 * agent's own folder under the app's data dir).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { createHost, type Host } from '../../electron/host'
import type { AgentInfo, FeedMessage } from '../../shared/ipc'
import { makeCliHome, RIG_BIN_DIR, RIG_CLIS, type RigCli } from '../support/cli-rig'
import { startModelServer, type ModelRequest, type ModelServer } from '../support/model-server'
import { privateRigBase } from '../support/cli-homes/gemini'
import { waitFor } from '../support/wait'

export interface AppWithClis {
  host: Host
  model: ModelServer
  home: string
  project: string
  events: Array<{ event: string; payload: unknown; at: number }>
  invoke<T>(command: string, req: unknown): Promise<T>
  /** Every message of the user's feed (latest state of each). */
  feed(): FeedMessage[]
  /** Every agent.changed payload for one agent, in order. */
  agentHistory(name: string): AgentInfo[]
  userName(): string
  homeDigest(): string
  close(): Promise<void>
}

/** The relay line the model sees for a message: "Relay message from <from> [...]: <body>". */
export const RELAY_LINE = /Relay message from (\S+?)(?: in #\S+)? \[[^\]]*\]: ([^\n<]*)/

/**
 * The user's own settings files of each CLI (what Relay must never write; the CLIs keep
 * their own state files, such as ~/.claude.json, up to date themselves).
 */
const SETTINGS_FILES = ['.claude/settings.json', '.codex/config.toml', '.gemini/settings.json', '.config/opencode/opencode.json']

/** Codex keeps its own UI state ([tui…] tables: notices seen, counters) in config.toml. */
function withoutCodexUiState(toml: string): string {
  let skip = false
  return toml
    .split('\n')
    .filter((line) => {
      if (/^\[/.test(line)) skip = /^\[tui[\].]/.test(line)
      return !skip
    })
    .join('\n')
}

/** Each settings file's content: parsed JSON re-serialised with sorted keys (a CLI may reformat its own file), TOML as text. */
function digestSettings(home: string): Record<string, string> {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sorted(x)])) : v
  const out: Record<string, string> = {}
  for (const f of SETTINGS_FILES) {
    const p = join(home, f)
    if (!existsSync(p)) {
      out[f] = 'absent'
      continue
    }
    const text = readFileSync(p, 'utf8')
    out[f] = f.endsWith('.json') ? JSON.stringify(sorted(JSON.parse(text))) : withoutCodexUiState(text)
  }
  return out
}

export async function startAppWithClis(opts: { clis?: readonly RigCli[]; log?: boolean; withDialogs?: boolean } = {}): Promise<AppWithClis> {
  const model = await startModelServer()
  // Private all the way up (not /tmp): Gemini skips the relay's settings below a
  // group/world-writable folder, as it would on a user's machine.
  const root = mkdtempSync(join(privateRigBase(), 'app-'))
  const home = join(root, 'home')
  const project = join(root, 'project')
  mkdirSync(home, { mode: 0o700 })
  mkdirSync(project, { recursive: true })
  let env: Record<string, string> = {}
  for (const cli of opts.clis ?? RIG_CLIS) env = { ...env, ...makeCliHome(cli, { modelUrl: model.url, cwd: project, home, withDialogs: opts.withDialogs }).env }
  const dataDir = join(root, 'data')
  const seededDigest = digestSettings(home)
  const host = createHost({
    dataDir,
    nodeName: 'rig',
    broker: { cwd: () => dataDir, env: { ...process.env, RELAY_NODE_TOKEN: '' } },
    agentEnv: { ...env, PATH: `${RIG_BIN_DIR}:${process.env.PATH ?? '/usr/bin:/bin'}` },
    idleSweepMs: 200,
    log: opts.log || process.env.HOST_LOG ? (l, m) => console.log(`[host ${l}] ${m}`) : undefined,
  })
  const events: AppWithClis['events'] = []
  host.onEvent((event, payload) => events.push({ event, payload, at: Date.now() }))
  await host.start()
  await waitFor(() => host.status().state === 'connected', 'node connected', 20_000)
  const invoke = async <T>(command: string, req: unknown): Promise<T> => {
    const out = (await host.invoke(command as never, req as never)) as { ok: boolean; result?: unknown; error?: { message: string } }
    if (!out.ok) throw new Error(`${command} failed: ${out.error?.message}`)
    return out.result as T
  }
  return {
    host,
    model,
    home,
    project,
    events,
    invoke,
    feed() {
      const latest = new Map<string, FeedMessage>()
      // A sent message's local placeholder is replaced by the engine's id (the UI drops it too).
      const replaced = new Set<string>()
      for (const e of events) {
        if (e.event !== 'message.changed') continue
        const m = e.payload as FeedMessage
        latest.set(m.id, m)
        if (m.replaces) replaced.add(m.replaces)
      }
      return [...latest.values()].filter((m) => !replaced.has(m.id))
    },
    agentHistory: (name) => events.filter((e) => e.event === 'agent.changed' && (e.payload as AgentInfo).name === name).map((e) => e.payload as AgentInfo),
    userName: () => host.status().userName ?? '',
    homeDigest: () => {
      const now = digestSettings(home)
      const changed = SETTINGS_FILES.filter((f) => now[f] !== seededDigest[f])
      return changed.length ? `changed: ${changed.join(', ')}` : 'unchanged'
    },
    async close() {
      await host.stop()
      await model.close()
      rmSync(root, { recursive: true, force: true })
    },
  }
}

/** Spawn through the contract and wait until the agent's screen shows an idle prompt. */
export async function spawnReady(app: AppWithClis, name: string, cli: RigCli, timeoutMs = 60_000): Promise<AgentInfo> {
  await app.invoke<AgentInfo>('agents.spawn', { name, command: cli, cwd: app.project })
  return waitFor(
    () => app.agentHistory(name).find((a) => a.activity === 'idle' || a.status === 'exited' || a.status === 'failed'),
    `${name} (${cli}) to show its idle prompt`,
    timeoutMs,
  ).then((a) => {
    if (a.status !== 'running') throw new Error(`${name} (${cli}) ${a.status}: ${a.error ?? `exit code ${a.exitCode}`}`)
    return a
  })
}

/** Each user turn that carries a relay message, parsed, from the last turn request of an API (its whole conversation). */
export function relayTurnsSeen(reqs: ModelRequest[]): Array<{ from: string; body: string }> {
  const last = reqs.filter((r) => r.kind === 'turn').at(-1)
  if (!last) return []
  const out: Array<{ from: string; body: string }> = []
  for (const turn of last.userTurns) {
    for (const m of turn.matchAll(new RegExp(RELAY_LINE.source, 'g'))) out.push({ from: m[1]!, body: m[2]!.trim() })
  }
  return out
}
