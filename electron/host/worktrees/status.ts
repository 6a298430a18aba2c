/** A worktree's uncommitted state from `git status --porcelain=v2 -z`. */
import { stat } from 'node:fs/promises'
import { git, GitError } from './git'
import { gitFailure, WorktreeError } from './errors'

export interface StatusEntry {
  path: string
  /** the old path of a rename or copy */
  origPath?: string
  /** 'changed' | 'renamed' (X/Y as in porcelain v2) | 'unmerged' | 'untracked' */
  kind: 'changed' | 'renamed' | 'unmerged' | 'untracked'
  /** git's X (index) and Y (working tree) letters; '.' means unchanged, '?' untracked */
  index: string
  worktree: string
}

export interface WorktreeStatus {
  clean: boolean
  staged: number
  unstaged: number
  untracked: number
  conflicted: number
  entries: StatusEntry[]
}

/** Parses `git status --porcelain=v2 -z`. */
export function parseStatus(out: string): WorktreeStatus {
  const tokens = out.split('\0')
  const entries: StatusEntry[] = []
  const fieldsThenPath = (line: string, fields: number): [string[], string] => {
    const parts = line.split(' ')
    return [parts.slice(0, fields), parts.slice(fields).join(' ')]
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]
    if (!t || t.startsWith('#') || t.startsWith('! ')) continue
    if (t.startsWith('? ')) {
      entries.push({ path: t.slice(2), kind: 'untracked', index: '?', worktree: '?' })
    } else if (t.startsWith('1 ')) {
      const [f, path] = fieldsThenPath(t, 8)
      entries.push({ path, kind: 'changed', index: f[1][0], worktree: f[1][1] })
    } else if (t.startsWith('2 ')) {
      const [f, path] = fieldsThenPath(t, 9)
      entries.push({ path, origPath: tokens[++i], kind: 'renamed', index: f[1][0], worktree: f[1][1] })
    } else if (t.startsWith('u ')) {
      const [f, path] = fieldsThenPath(t, 10)
      entries.push({ path, kind: 'unmerged', index: f[1][0], worktree: f[1][1] })
    }
  }
  let staged = 0
  let unstaged = 0
  let untracked = 0
  let conflicted = 0
  for (const e of entries) {
    if (e.kind === 'untracked') untracked++
    else if (e.kind === 'unmerged') conflicted++
    else {
      if (e.index !== '.') staged++
      if (e.worktree !== '.') unstaged++
    }
  }
  return { clean: entries.length === 0, staged, unstaged, untracked, conflicted, entries }
}

export async function statusOf(cwd: string, untracked: 'all' | 'normal'): Promise<WorktreeStatus> {
  const out = await git(['status', '--porcelain=v2', '-z', `--untracked-files=${untracked}`], { cwd, timeoutMs: 120_000 })
  return parseStatus(out)
}

export async function isDir(path: string): Promise<boolean | null> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return null
  }
}

/** Staged, unstaged, untracked (every file, not folders) and conflicted paths of a worktree. */
export async function worktreeStatus(path: string): Promise<WorktreeStatus> {
  const dir = await isDir(path)
  if (!dir) throw new WorktreeError('not_found', `${path} does not exist or is not a folder`)
  try {
    return await statusOf(path, 'all')
  } catch (e) {
    if (e instanceof GitError && e.kind === 'exit' && /not a git repository/i.test(e.stderr)) {
      throw new WorktreeError('not_a_repo', `${path} is not inside a git repository`, { git: e })
    }
    throw gitFailure(e, `could not read the status of ${path}`)
  }
}

export function describeStatus(status: WorktreeStatus, max = 10): string {
  const counts = [
    status.staged && `${status.staged} staged`,
    status.unstaged && `${status.unstaged} unstaged`,
    status.untracked && `${status.untracked} untracked`,
    status.conflicted && `${status.conflicted} conflicted`,
  ].filter(Boolean)
  const shown = status.entries.slice(0, max).map((e) => (e.kind === 'untracked' ? `?? ${e.path}` : `${e.index}${e.worktree} ${e.path}`))
  const more = status.entries.length > max ? [`... and ${status.entries.length - max} more`] : []
  return `${counts.join(', ')}: ${[...shown, ...more].join('; ')}`
}
