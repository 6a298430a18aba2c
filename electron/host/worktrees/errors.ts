/** The one error type of the worktree layer: a code to branch on, a message a person understands. */
import { GitError } from './git'
import type { WorktreeStatus } from './status'

export type WorktreeErrorCode =
  | 'not_found'
  | 'not_a_repo'
  | 'no_commits'
  | 'invalid_branch'
  | 'branch_exists'
  | 'worktree_add_failed'
  | 'dirty'
  | 'not_a_worktree'
  | 'remove_failed'
  | 'bad_base'
  | 'git_missing'
  | 'git_failed'

export class WorktreeError extends Error {
  constructor(
    readonly code: WorktreeErrorCode,
    message: string,
    readonly detail: { status?: WorktreeStatus; branch?: string; git?: GitError } = {},
  ) {
    super(message)
    this.name = 'WorktreeError'
  }
}

/** Any failure as a WorktreeError; a GitError is kept as detail.git. */
export function gitFailure(e: unknown, what: string): WorktreeError {
  if (e instanceof WorktreeError) return e
  if (e instanceof GitError) {
    if (e.kind === 'missing') return new WorktreeError('git_missing', 'git is not installed or not on PATH', { git: e })
    if (e.kind === 'exit' && /not a git repository/i.test(e.stderr)) return new WorktreeError('not_a_repo', `${what}: not inside a git repository`, { git: e })
    return new WorktreeError('git_failed', `${what}: ${e.message}`, { git: e })
  }
  return new WorktreeError('git_failed', `${what}: ${e instanceof Error ? e.message : String(e)}`)
}
