/**
 * What enters the worktree layer from outside: IPC requests (from the renderer, later) and
 * the small metadata file a worktree carries. Parsed here; plain types inside.
 */
import { isAbsolute } from 'node:path'
import { z } from 'zod'

const absolutePath = z
  .string()
  .min(1, 'a path is required')
  .max(4096)
  .refine((p) => !p.includes('\0'), 'a path cannot contain a NUL character')
  .refine((p) => isAbsolute(p), 'the path must be absolute')

/** A commit id as git prints it (sha1 or sha256), abbreviated to at least 7. */
export const commitId = z.string().regex(/^[0-9a-f]{7,64}$/i, 'not a commit id')

const branchName = z
  .string()
  .min(1, 'a branch name is required')
  .max(200)
  .refine((b) => !b.includes('\0'), 'a branch name cannot contain a NUL character')

export const InspectFolderRequest = z.object({ path: absolutePath })

export const CreateWorktreeRequest = z.object({
  repoPath: absolutePath,
  agentName: z.string().trim().min(1, 'an agent name is required').max(200),
  /** default: derived from the agent name (see branchNameForAgent) */
  branch: branchName.optional(),
  /** default: the host's data folder + /worktrees */
  root: absolutePath.optional(),
})

export const SuggestBranchRequest = z.object({ repoPath: absolutePath, agentName: z.string().trim().min(1).max(200) })

export const WorktreeStatusRequest = z.object({ path: absolutePath })

export const RemoveMode = z.enum(['keep', 'if-clean', 'force'])

export const RemoveWorktreeRequest = z.object({
  path: absolutePath,
  mode: RemoveMode,
  /** delete the branch too, when it has no commits beyond its base */
  deleteBranch: z.boolean().optional(),
  baseCommit: commitId.optional(),
})

export const AgentDiffRequest = z.object({
  worktreePath: absolutePath,
  baseCommit: commitId,
  context: z.number().int().min(0).max(1000).optional(),
  maxLinesPerFile: z.number().int().min(1).max(1_000_000).optional(),
  maxTotalLines: z.number().int().min(1).max(10_000_000).optional(),
})

/** Written by createAgentWorktree into the worktree's private git folder. */
export const AgentWorktreeMeta = z.object({
  version: z.literal(1),
  agentName: z.string(),
  branch: z.string(),
  baseCommit: commitId,
  repoRoot: z.string(),
})

export type InspectFolderRequest = z.infer<typeof InspectFolderRequest>
export type CreateWorktreeRequest = z.infer<typeof CreateWorktreeRequest>
export type SuggestBranchRequest = z.infer<typeof SuggestBranchRequest>
export type WorktreeStatusRequest = z.infer<typeof WorktreeStatusRequest>
export type RemoveMode = z.infer<typeof RemoveMode>
export type RemoveWorktreeRequest = z.infer<typeof RemoveWorktreeRequest>
export type AgentDiffRequest = z.infer<typeof AgentDiffRequest>
export type AgentWorktreeMeta = z.infer<typeof AgentWorktreeMeta>
