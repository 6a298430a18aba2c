/** Branch and folder names for agents, checked the way git checks them. */
import { runGit } from './git'
import { gitFailure, WorktreeError } from './errors'

const BRANCH_PREFIX = 'relay/'

/** A name safe as one ref component and as a folder name: lower case, [a-z0-9._-]. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/-{2,}/g, '-')
    .slice(0, 60)
    .replace(/^[-.]+/, '')
    .replace(/(\.lock)+$/, '')
    .replace(/[-.]+$/, '')
  return slug || 'agent'
}

/** The default branch for an agent: `relay/<slug>`. Lower case because refs are files on case-insensitive disks. */
export function branchNameForAgent(agentName: string): string {
  return BRANCH_PREFIX + slugify(agentName)
}

/** Rejects what git would reject as a branch name, and what it would take for something else. */
export async function validateBranchName(repoPath: string, branch: string): Promise<void> {
  const bad = (why: string) => new WorktreeError('invalid_branch', `'${branch}' is not a valid branch name: ${why}`, { branch })
  if (branch.startsWith('-')) throw bad('it cannot start with a dash')
  if (branch === 'HEAD' || branch.includes('@{')) throw bad('it is reserved by git')
  if (branch.includes('\0')) throw bad('it contains a NUL character')
  try {
    const r = await runGit(['check-ref-format', `refs/heads/${branch}`], { cwd: repoPath, okExitCodes: [1] })
    if (r.exitCode !== 0) throw bad('see `git help check-ref-format` (no spaces, no ~^:?*[\\, no "..", no leading or trailing "/" or ".")')
  } catch (e) {
    throw gitFailure(e, 'could not check the branch name')
  }
}

export async function branchExists(cwd: string, branch: string): Promise<boolean> {
  const r = await runGit(['show-ref', '--verify', '--quiet', `refs/heads/${branch}`], { cwd, okExitCodes: [1] })
  return r.exitCode === 0
}
