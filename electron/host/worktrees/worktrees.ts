/**
 * One git worktree per agent: inspect a folder, create a worktree on a new branch, remove it
 * without ever losing uncommitted work unless told to.
 *
 * Every failure is a WorktreeError with a code a caller can branch on and a message a person
 * understands; git's own words are kept in the message where they explain more.
 */
import { mkdir, readFile, realpath, rm, rmdir, writeFile } from 'node:fs/promises'
import { basename, isAbsolute, join, relative, resolve } from 'node:path'
import { gitFailure, WorktreeError } from './errors'
import { git, GitError, runGit } from './git'
import { branchExists, branchNameForAgent, slugify, validateBranchName } from './names'
import { AgentWorktreeMeta, type RemoveMode } from './schema'
import { describeStatus, isDir, statusOf, worktreeStatus } from './status'

export { WorktreeError, type WorktreeErrorCode } from './errors'

export type FolderInfo =
  | { isRepo: false; path: string; code: 'not_found' | 'not_a_directory' | 'not_a_repo' | 'bare' | 'git_missing'; reason: string }
  | {
      isRepo: true
      path: string
      /** top of the working tree that contains `path` */
      root: string
      /** `path` relative to root, '' at the top */
      subdir: string
      /** null in a repository without commits */
      head: string | null
      /** null when HEAD is detached */
      branch: string | null
      dirty: boolean
      /** changed paths (untracked folders count once) */
      changes: number
      /** true when `root` is itself a linked worktree */
      linkedWorktree: boolean
    }

export interface WorktreeWarning {
  code: 'source_dirty' | 'submodules' | 'root_inside_repo'
  message: string
}

export interface AgentWorktree {
  agentName: string
  /** the worktree's top folder */
  path: string
  /** where the agent should start: the same subfolder of the worktree the source path was in */
  cwd: string
  branch: string
  baseCommit: string
  repoRoot: string
  warnings: WorktreeWarning[]
}

export interface CreateAgentWorktreeOptions {
  repoPath: string
  agentName: string
  /** default: branchNameForAgent(agentName) */
  branch?: string
  /** folder under which worktrees are made (defaultWorktreeRoot(dataDir) in the app) */
  root: string
  /** what the branch starts from; default HEAD */
  baseRef?: string
}

export interface RemoveOptions {
  mode: RemoveMode
  /** also delete the branch when it has no commits beyond the base commit */
  deleteBranch?: boolean
  /** default: the base recorded when the worktree was created */
  baseCommit?: string
  /** when the folder is already gone: the repository to prune its registration from */
  repoPath?: string
}

export interface RemoveResult {
  removed: boolean
  branch: string | null
  branchDeleted: boolean
  /** why the branch was kept, when deleteBranch was asked */
  branchKept?: string
}

const META_FILE = 'relay-agent.json'

/** Where agent worktrees go unless configured: inside the app's data folder. */
export function defaultWorktreeRoot(dataDir: string): string {
  return join(dataDir, 'worktrees')
}

interface RepoPaths {
  root: string
  gitDir: string
  commonDir: string
  subdir: string
}

async function repoPaths(cwd: string): Promise<RepoPaths> {
  // Older gits lack --path-format=absolute: resolve the relative answers against cwd.
  const out = await git(['rev-parse', '--show-toplevel', '--git-dir', '--git-common-dir', '--show-prefix'], { cwd })
  const [root, gitDir, commonDir, prefix = ''] = out.split('\n')
  return {
    root: resolve(cwd, root),
    gitDir: resolve(cwd, gitDir),
    commonDir: resolve(cwd, commonDir),
    subdir: prefix.replace(/\/$/, ''),
  }
}

async function headCommit(cwd: string): Promise<string | null> {
  const r = await runGit(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd, okExitCodes: [1] })
  return r.exitCode === 0 ? r.stdout.trim() : null
}

async function currentBranch(cwd: string): Promise<string | null> {
  const r = await runGit(['symbolic-ref', '-q', '--short', 'HEAD'], { cwd, okExitCodes: [1] })
  return r.exitCode === 0 ? r.stdout.trim() : null
}

/** What a folder is, for the spawn dialog: a repository (and its state) or why not. */
export async function inspectFolder(path: string): Promise<FolderInfo> {
  const dir = await isDir(path)
  if (dir === null) return { isRepo: false, path, code: 'not_found', reason: `${path} does not exist` }
  if (!dir) return { isRepo: false, path, code: 'not_a_directory', reason: `${path} is not a folder` }
  try {
    const inside = await runGit(['rev-parse', '--is-inside-work-tree'], { cwd: path, okExitCodes: [128] })
    if (inside.exitCode !== 0) return { isRepo: false, path, code: 'not_a_repo', reason: `${path} is not inside a git repository` }
    if (inside.stdout.trim() !== 'true') {
      return { isRepo: false, path, code: 'bare', reason: `${path} is a bare repository or a .git folder, not a working tree` }
    }
    const p = await repoPaths(path)
    const [head, branch, status] = await Promise.all([headCommit(path), currentBranch(path), statusOf(path, 'normal')])
    return {
      isRepo: true,
      path,
      root: p.root,
      subdir: p.subdir,
      head,
      branch,
      dirty: !status.clean,
      changes: status.entries.length,
      linkedWorktree: p.gitDir !== p.commonDir,
    }
  } catch (e) {
    if (e instanceof GitError && e.kind === 'missing') {
      return { isRepo: false, path, code: 'git_missing', reason: 'git is not installed or not on PATH' }
    }
    throw gitFailure(e, `could not inspect ${path}`)
  }
}

async function requireRepo(repoPath: string): Promise<Extract<FolderInfo, { isRepo: true }>> {
  const info = await inspectFolder(repoPath)
  if (info.isRepo) return info
  const code = info.code === 'git_missing' ? 'git_missing' : info.code === 'not_found' ? 'not_found' : 'not_a_repo'
  throw new WorktreeError(code, info.reason)
}

/** The default branch for an agent, with -2, -3... when that one exists already (to prefill an editable field). */
export async function suggestBranchName(repoPath: string, agentName: string): Promise<string> {
  await requireRepo(repoPath)
  const base = branchNameForAgent(agentName)
  try {
    for (let n = 1; n < 1000; n++) {
      const candidate = n === 1 ? base : `${base}-${n}`
      if (!(await branchExists(repoPath, candidate))) return candidate
    }
  } catch (e) {
    throw gitFailure(e, 'could not list branches')
  }
  throw new WorktreeError('branch_exists', `every branch name from ${base} to ${base}-999 is taken`)
}

/** Makes a fresh empty folder `<root>/<repo>/<slug>[-n]`; git accepts an empty existing folder. */
async function claimFolder(root: string, repoName: string, agentName: string): Promise<string> {
  const parent = join(root, slugify(repoName))
  await mkdir(parent, { recursive: true })
  const slug = slugify(agentName)
  for (let n = 1; n < 1000; n++) {
    const candidate = join(parent, n === 1 ? slug : `${slug}-${n}`)
    try {
      await mkdir(candidate)
      return candidate
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
  }
  throw new Error(`no free folder name for ${slug} under ${parent}`)
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

/**
 * Creates a new branch and a worktree for an agent. Uncommitted changes in the source folder
 * are not an error — the worktree starts from the base commit — but they are reported as a
 * warning, because the agent will not see them.
 */
export async function createAgentWorktree(opts: CreateAgentWorktreeOptions): Promise<AgentWorktree> {
  const info = await requireRepo(opts.repoPath)
  const repoRoot = info.root
  const branch = opts.branch ?? branchNameForAgent(opts.agentName)
  await validateBranchName(repoRoot, branch)
  const warnings: WorktreeWarning[] = []
  let baseCommit: string
  try {
    if (opts.baseRef) {
      if (opts.baseRef.startsWith('-')) throw new WorktreeError('bad_base', `'${opts.baseRef}' is not a commit or branch name`)
      const r = await runGit(['rev-parse', '-q', '--verify', `${opts.baseRef}^{commit}`], { cwd: repoRoot, okExitCodes: [1] })
      if (r.exitCode !== 0) throw new WorktreeError('bad_base', `'${opts.baseRef}' does not name a commit in ${repoRoot}`)
      baseCommit = r.stdout.trim()
    } else {
      if (!info.head) throw new WorktreeError('no_commits', `${repoRoot} has no commits yet; a worktree needs a commit to start from`)
      baseCommit = info.head
    }
    if (await branchExists(repoRoot, branch)) {
      throw new WorktreeError('branch_exists', `a branch named '${branch}' already exists in ${repoRoot}; choose another name`, { branch })
    }
  } catch (e) {
    throw gitFailure(e, 'could not prepare the worktree')
  }
  if (info.dirty) {
    warnings.push({
      code: 'source_dirty',
      message: `${repoRoot} has ${info.changes} uncommitted change${info.changes === 1 ? '' : 's'}; they are not in the agent's worktree, which starts from commit ${baseCommit.slice(0, 12)}`,
    })
  }

  const root = resolve(opts.root)
  let path: string
  try {
    path = await claimFolder(root, basename(repoRoot), opts.agentName)
  } catch (e) {
    throw new WorktreeError('worktree_add_failed', `could not make a folder for the worktree under ${root}: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (isInside(path, repoRoot)) {
    // Checked once the folder exists: a pattern like `.worktrees/` only matches a folder.
    const ignored = await runGit(['check-ignore', '-q', '--', relative(repoRoot, path)], { cwd: repoRoot, okExitCodes: [1, 128] }).catch(() => null)
    if (ignored?.exitCode !== 0) {
      warnings.push({ code: 'root_inside_repo', message: `the worktree folder ${root} is inside the repository and not ignored; it will show as untracked files there` })
    }
  }
  try {
    await git(['worktree', 'add', '--quiet', '-b', branch, path, baseCommit], { cwd: repoRoot, timeoutMs: 300_000 })
  } catch (e) {
    await rm(path, { recursive: true, force: true }).catch(() => undefined)
    // A failed add can leave a registration pointing at the folder just removed.
    await git(['worktree', 'prune'], { cwd: repoRoot }).catch(() => undefined)
    if (e instanceof GitError && e.kind !== 'missing') {
      throw new WorktreeError('worktree_add_failed', `git worktree add failed: ${e.stderr || e.message}`, { git: e, branch })
    }
    throw gitFailure(e, 'git worktree add failed')
  }

  try {
    const p = await repoPaths(path)
    const meta: AgentWorktreeMeta = { version: 1, agentName: opts.agentName, branch, baseCommit, repoRoot }
    await writeFile(join(p.gitDir, META_FILE), JSON.stringify(meta, null, 2) + '\n')
  } catch {
    // The metadata only saves the caller from keeping the base; the returned value has it.
  }
  if ((await isDir(join(repoRoot, '.gitmodules'))) === false) {
    warnings.push({ code: 'submodules', message: 'the repository has submodules; they are not checked out in the worktree (run `git submodule update --init` there)' })
  }
  const cwd = info.subdir && (await isDir(join(path, info.subdir))) ? join(path, info.subdir) : path
  return { agentName: opts.agentName, path, cwd, branch, baseCommit, repoRoot, warnings }
}

/** The metadata createAgentWorktree left in a worktree, or null (not ours, or unreadable). */
export async function readAgentWorktree(path: string): Promise<AgentWorktreeMeta | null> {
  try {
    const p = await repoPaths(path)
    const parsed = AgentWorktreeMeta.safeParse(JSON.parse(await readFile(join(p.gitDir, META_FILE), 'utf8')))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

/**
 * Removes an agent's worktree. 'keep' touches nothing; 'if-clean' refuses (code 'dirty', with
 * the status) when anything is uncommitted; only 'force' deletes uncommitted work. Never
 * removes a main working tree. Committed work stays on the branch; the branch is deleted
 * only when asked and only when it has no commits beyond its base.
 */
export async function removeAgentWorktree(path: string, opts: RemoveOptions): Promise<RemoveResult> {
  if (opts.mode === 'keep') return { removed: false, branch: null, branchDeleted: false }
  const dir = await isDir(path)
  if (!dir) {
    if (dir === null && opts.repoPath) {
      await git(['worktree', 'prune'], { cwd: opts.repoPath }).catch((e) => { throw gitFailure(e, 'git worktree prune failed') })
      return { removed: true, branch: null, branchDeleted: false }
    }
    throw new WorktreeError('not_found', `${path} does not exist or is not a folder`)
  }

  let paths: RepoPaths
  try {
    paths = await repoPaths(path)
  } catch (e) {
    if (e instanceof GitError && e.kind === 'exit') throw new WorktreeError('not_a_worktree', `${path} is not a git worktree`, { git: e })
    throw gitFailure(e, `could not inspect ${path}`)
  }
  const top = await realpath(path)
  if (paths.gitDir === paths.commonDir) throw new WorktreeError('not_a_worktree', `${path} is a repository's main working tree, not an agent worktree; it is never removed`)
  if ((await realpath(paths.root)) !== top) throw new WorktreeError('not_a_worktree', `${path} is inside the worktree ${paths.root}, not its top folder`)

  const status = await worktreeStatus(path)
  if (opts.mode === 'if-clean' && !status.clean) {
    throw new WorktreeError('dirty', `the worktree ${path} has uncommitted work (${describeStatus(status)}); it was not removed`, { status })
  }
  const meta = await readAgentWorktree(path)
  let branch: string | null
  try {
    branch = await currentBranch(path)
  } catch (e) {
    throw gitFailure(e, `could not read the branch of ${path}`)
  }

  const args = ['worktree', 'remove', ...(opts.mode === 'force' ? ['--force'] : []), top]
  try {
    await git(args, { cwd: paths.commonDir, timeoutMs: 300_000 })
  } catch (e) {
    if (e instanceof GitError && e.kind === 'exit') {
      throw new WorktreeError(opts.mode === 'if-clean' && /modified or untracked/.test(e.stderr) ? 'dirty' : 'remove_failed', `git worktree remove failed: ${e.stderr || e.message}`, { git: e })
    }
    throw gitFailure(e, 'git worktree remove failed')
  }
  await git(['worktree', 'prune'], { cwd: paths.commonDir }).catch(() => undefined)
  // `git worktree remove` leaves the per-repo parent folder claimFolder made; drop it when empty.
  if (meta) await rmdir(resolve(top, '..')).catch(() => undefined)

  const result: RemoveResult = { removed: true, branch, branchDeleted: false }
  if (!opts.deleteBranch) return result
  const base = opts.baseCommit ?? meta?.baseCommit
  if (!branch) return { ...result, branchKept: 'the worktree had no branch checked out (detached HEAD)' }
  if (!base) return { ...result, branchKept: `the base commit of ${branch} is not known, so it may hold work` }
  try {
    const ahead = Number((await git(['rev-list', '--count', `${base}..refs/heads/${branch}`], { cwd: paths.commonDir })).trim())
    if (ahead > 0) return { ...result, branchKept: `${branch} has ${ahead} commit${ahead === 1 ? '' : 's'} beyond its base` }
    await git(['branch', '-D', branch], { cwd: paths.commonDir })
    return { ...result, branchDeleted: true }
  } catch (e) {
    const why = e instanceof GitError ? e.stderr || e.message : String(e)
    return { ...result, branchKept: `could not delete ${branch}: ${why}` }
  }
}
