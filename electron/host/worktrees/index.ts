/** Agent worktrees: one git worktree per agent, its diff against the base, and a watcher to refresh it. */
export { GitError, gitVersion, type GitErrorKind } from './git'
export { WorktreeError, type WorktreeErrorCode } from './errors'
export { branchNameForAgent, slugify, validateBranchName } from './names'
export { describeStatus, parseStatus, worktreeStatus, type StatusEntry, type WorktreeStatus } from './status'
export {
  createAgentWorktree,
  defaultWorktreeRoot,
  inspectFolder,
  readAgentWorktree,
  removeAgentWorktree,
  suggestBranchName,
  type AgentWorktree,
  type CreateAgentWorktreeOptions,
  type FolderInfo,
  type RemoveOptions,
  type RemoveResult,
  type WorktreeWarning,
} from './worktrees'
export { agentDiff, commitsSince, UnifiedDiffParser, unquoteGitPath, type AgentDiff, type DiffHunk, type DiffLine, type DiffOptions, type FileDiff, type FileStatus } from './diff'
export { watchWorktree, type ChangeListener, type WatchOptions, type WorktreeWatcher } from './watch'
export * from './schema'
