/**
 * The host's worktree-and-review area: an agent spawned with `worktree` gets its own git
 * worktree (worktrees/), its changes are served as a diff and watched, stopping it decides
 * what becomes of the worktree, and a review comment on lines of the diff goes to the agent
 * as a relay message from the user. The host wires this in (spawn, stop, commands); nothing
 * here knows about the broker or the engine.
 */
import { isAbsolute, resolve } from 'node:path'
import { BrokerError } from '../broker'
import type {
  AgentDiffInfo, AgentWorktreeInfo, CommandResult, FeedMessage, FolderInfo, ParsedRequest, WorktreeStatusInfo,
} from '../../shared/ipc'
import {
  agentDiff, commitsSince, createAgentWorktree, defaultWorktreeRoot, describeStatus, inspectFolder, removeAgentWorktree, suggestBranchName,
  watchWorktree, worktreeStatus, WorktreeError, type WorktreeWatcher,
} from './worktrees'

/** Paths listed in a worktree's status for the stop dialog. */
const MAX_STATUS_FILES = 200

/** Lines of context quoted from the diff above a review comment. */
const MAX_QUOTED_LINES = 12

export interface ReviewAreaDeps {
  dataDir: string
  log: (level: 'info' | 'warn' | 'error', msg: string) => void
  /** The worktree of an agent this app knows (running or remembered). */
  worktreeOf(name: string): AgentWorktreeInfo | undefined
  /** Files changed in an agent's worktree. */
  changed(name: string): void
  /** Sends `text` from the user to the agent, as messages.send does. */
  sendAsUser(to: string, text: string): Promise<FeedMessage>
}

export interface PreparedSpawn {
  cwd: string
  worktree: AgentWorktreeInfo
  warnings: string[]
}

/** A WorktreeError as the contract's error (code + message); anything else passes through. */
function contractError(err: unknown): unknown {
  if (err instanceof WorktreeError) return new BrokerError(err.code === 'dirty' ? 'worktree_dirty' : err.code, err.message)
  return err
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    throw contractError(err)
  }
}

export class ReviewArea {
  private readonly watchers = new Map<string, Promise<WorktreeWatcher | undefined>>()

  constructor(private readonly deps: ReviewAreaDeps) {}

  /** `worktree.inspect`: what the spawn dialog needs to offer "own worktree". */
  async inspect(req: ParsedRequest<'worktree.inspect'>): Promise<FolderInfo> {
    if (!isAbsolute(req.path)) return { isRepo: false, reason: `${req.path} is not an absolute path` }
    const info = await mapped(() => inspectFolder(req.path))
    if (!info.isRepo) return { isRepo: false, reason: info.reason }
    const suggestedBranch = req.agentName && info.head ? await suggestBranchName(info.root, req.agentName).catch(() => undefined) : undefined
    return {
      isRepo: true, root: info.root, branch: info.branch, head: info.head, dirty: info.dirty, changes: info.changes,
      ...(suggestedBranch ? { suggestedBranch } : {}),
    }
  }

  /** Creates the agent's worktree from the repository `cwd` is in; the agent then starts in `cwd` of the result. */
  async prepareSpawn(name: string, cwd: string, opts: { branch?: string; root?: string }): Promise<PreparedSpawn> {
    if (!cwd) throw new BrokerError('invalid_request', 'a worktree needs the folder of a git repository')
    const root = opts.root ? resolve(opts.root) : defaultWorktreeRoot(this.deps.dataDir)
    const made = await mapped(() => createAgentWorktree({ repoPath: resolve(cwd), agentName: name, branch: opts.branch, root }))
    this.deps.log('info', `${name}: worktree ${made.path} on ${made.branch} from ${made.baseCommit.slice(0, 12)}`)
    return {
      cwd: made.cwd,
      worktree: { path: made.path, branch: made.branch, baseCommit: made.baseCommit, repoRoot: made.repoRoot },
      warnings: made.warnings.map((w) => w.message),
    }
  }

  /** Undoes prepareSpawn when the agent could not start (the worktree is fresh: nothing of the agent's in it). */
  async discardPrepared(p: PreparedSpawn): Promise<void> {
    await removeAgentWorktree(p.worktree.path, { mode: 'force', deleteBranch: true, baseCommit: p.worktree.baseCommit, repoPath: p.worktree.repoRoot })
  }

  private requireWorktree(name: string): AgentWorktreeInfo {
    const wt = this.deps.worktreeOf(name)
    if (!wt) throw new BrokerError('no_worktree', `${name} does not run in its own worktree`)
    return wt
  }

  /** `worktree.status`: uncommitted work, for the stop dialog. */
  async status(name: string): Promise<WorktreeStatusInfo> {
    const wt = this.requireWorktree(name)
    const st = await mapped(() => worktreeStatus(wt.path))
    // A count, not a diff: the stop dialog only says how many commits the branch has.
    const commits = await commitsSince(wt.path, wt.baseCommit)
    return {
      clean: st.clean, staged: st.staged, unstaged: st.unstaged, untracked: st.untracked,
      files: st.entries.slice(0, MAX_STATUS_FILES).map((e) => e.path),
      commits,
    }
  }

  /**
   * Before an agent with a worktree stops: refuses (nothing stopped) when the chosen action
   * would delete uncommitted work without `discardChanges`.
   */
  async checkStop(name: string, action: 'keep' | 'remove-if-clean' | 'remove', discardChanges: boolean): Promise<void> {
    const wt = this.deps.worktreeOf(name)
    if (!wt || action === 'keep') return
    if (action === 'remove' && discardChanges) return
    const st = await mapped(() => worktreeStatus(wt.path))
    if (st.clean) return
    const how = action === 'remove' ? 'confirm discarding it, or keep the worktree' : 'keep the worktree, or remove it and discard the changes'
    throw new BrokerError('worktree_dirty', `${name}'s worktree has uncommitted work (${describeStatus(st)}): ${how}`)
  }

  /** After the agent stopped: removes its worktree as asked. Returns what happened, for the log. */
  async afterStop(name: string, action: 'keep' | 'remove-if-clean' | 'remove', discardChanges: boolean): Promise<'kept' | 'removed'> {
    const wt = this.deps.worktreeOf(name)
    await this.unwatch(name)
    if (!wt || action === 'keep') return 'kept'
    const mode = action === 'remove' && discardChanges ? 'force' : 'if-clean'
    const out = await mapped(() => removeAgentWorktree(wt.path, { mode, deleteBranch: true, baseCommit: wt.baseCommit, repoPath: wt.repoRoot }))
    this.deps.log('info', `${name}: worktree ${wt.path} removed${out.branchDeleted ? `, branch ${wt.branch} deleted` : out.branchKept ? ` (branch kept: ${out.branchKept})` : ''}`)
    return out.removed ? 'removed' : 'kept'
  }

  /** `diff.get`: the agent's changes against its base commit. */
  async diff(name: string): Promise<AgentDiffInfo> {
    const wt = this.requireWorktree(name)
    const d = await mapped(() => agentDiff(wt.path, wt.baseCommit))
    return {
      name, baseCommit: d.baseCommit, branch: wt.branch, commits: d.commits, additions: d.additions, deletions: d.deletions, truncated: d.truncated,
      files: d.files.map((f) => ({
        path: f.path, ...(f.oldPath ? { oldPath: f.oldPath } : {}), status: f.status, untracked: f.untracked, binary: f.binary,
        additions: f.additions, deletions: f.deletions, truncated: f.truncated,
        hunks: f.hunks.map((h) => ({ header: h.header, oldStart: h.oldStart, newStart: h.newStart, lines: h.lines })),
      })),
    }
  }

  /**
   * `review.comment`: the comment as a relay message to the agent, naming the file and lines
   * and quoting them from the current diff (so the agent sees what the reviewer saw).
   */
  async comment(req: ParsedRequest<'review.comment'>): Promise<CommandResult<'review.comment'>> {
    const wt = this.requireWorktree(req.name)
    const d = await mapped(() => agentDiff(wt.path, wt.baseCommit))
    const file = d.files.find((f) => f.path === req.path || f.oldPath === req.path)
    if (!file) throw new BrokerError('not_in_diff', `${req.path} is not among ${req.name}'s changes`)
    const key = req.side === 'old' ? 'oldLine' : 'newLine'
    const quoted = file.hunks
      .flatMap((h) => h.lines)
      .filter((l) => l[key] !== null && (l[key] as number) >= req.startLine && (l[key] as number) <= req.endLine)
    if (quoted.length === 0) throw new BrokerError('not_in_diff', `lines ${req.startLine}–${req.endLine} of ${req.path} are not in the diff`)
    const range = req.startLine === req.endLine ? `line ${req.startLine}` : `lines ${req.startLine}-${req.endLine}`
    const where = `${req.path} ${range}${req.side === 'old' ? ' (removed lines, base version)' : ''}`
    const mark = { add: '+', del: '-', context: ' ' } as const
    const shown = quoted.slice(0, MAX_QUOTED_LINES).map((l) => `> ${mark[l.kind]}${l.text}`)
    if (quoted.length > MAX_QUOTED_LINES) shown.push(`> … ${quoted.length - MAX_QUOTED_LINES} more lines`)
    const text = [`Review comment on ${where}:`, ...shown, '', req.comment].join('\n')
    return this.deps.sendAsUser(req.name, text)
  }

  /** Watches the agent's worktree while it runs; changes are reported (debounced) as diff.changed. */
  watch(name: string): void {
    const wt = this.deps.worktreeOf(name)
    if (!wt || this.watchers.has(name)) return
    this.watchers.set(
      name,
      watchWorktree(wt.path, () => this.deps.changed(name), {
        onError: (err) => this.deps.log('warn', `${name}: watching ${wt.path} failed: ${err.message}`),
      }).catch((err: unknown) => {
        this.deps.log('warn', `${name}: cannot watch ${wt.path}: ${(err as Error).message}`)
        return undefined
      }),
    )
  }

  async unwatch(name: string): Promise<void> {
    const w = this.watchers.get(name)
    this.watchers.delete(name)
    ;(await w)?.close()
  }

  async close(): Promise<void> {
    await Promise.all([...this.watchers.keys()].map((n) => this.unwatch(n)))
  }
}
