/**
 * Agent worktrees on real git repositories in temp folders: creation, isolation between two
 * agents, every error, status, removal modes, the diff against the base with exact line
 * numbers, that diffing never writes the user's index, and the watcher.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, unlinkSync, writeFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  agentDiff,
  AgentDiffRequest,
  branchNameForAgent,
  createAgentWorktree,
  CreateWorktreeRequest,
  defaultWorktreeRoot,
  gitVersion,
  inspectFolder,
  readAgentWorktree,
  removeAgentWorktree,
  RemoveWorktreeRequest,
  slugify,
  suggestBranchName,
  watchWorktree,
  WorktreeError,
  worktreeStatus,
  type FileDiff,
  type WorktreeWatcher,
} from '../../electron/host/worktrees'
import { GitError, runGit } from '../../electron/host/worktrees/git'
import { tempDir, waitFor } from '../support/wait'

const made: string[] = []
const saved: Record<string, string | undefined> = {}
let env: NodeJS.ProcessEnv

// The machine's own git config (gpg signing, autocrlf, a default branch) must not change results.
beforeAll(() => {
  const home = tempDir('wt-home')
  made.push(home)
  writeFileSync(join(home, 'gitconfig'), '')
  for (const [k, v] of Object.entries({ GIT_CONFIG_GLOBAL: join(home, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1' })) {
    saved[k] = process.env[k]
    process.env[k] = v
  }
  env = { ...process.env, GIT_AUTHOR_NAME: 'Test', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'Test', GIT_COMMITTER_EMAIL: 't@example.com', GIT_OPTIONAL_LOCKS: '0' }
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k]
})
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  for (const d of made) rmSync(d, { recursive: true, force: true })
})

function g(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function dir(prefix: string): string {
  const d = realpathSync(tempDir(prefix))
  made.push(d)
  return d
}

function write(root: string, rel: string, content: string | Buffer): void {
  mkdirSync(join(root, rel, '..'), { recursive: true })
  writeFileSync(join(root, rel), content)
}

function repo(files: Record<string, string | Buffer> = { 'README.md': '# project\n' }): string {
  const r = dir('wt-repo')
  g(r, 'init', '-q', '-b', 'main')
  for (const [p, c] of Object.entries(files)) write(r, p, c)
  g(r, 'add', '-A')
  g(r, 'commit', '-q', '-m', 'base')
  return r
}

const lines = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}\n`).join('')

async function rejection(p: Promise<unknown>): Promise<WorktreeError> {
  const e = await p.then(() => null, (err: unknown) => err)
  expect(e).toBeInstanceOf(WorktreeError)
  return e as WorktreeError
}

describe('git runner', () => {
  it('finds git and reports a failing command with its exit code and stderr', async () => {
    expect(await gitVersion()).toMatch(/^\d+\.\d+/)
    const d = dir('wt-plain')
    const e = await runGit(['rev-parse', '--show-toplevel'], { cwd: d }).then(() => null, (x: unknown) => x)
    expect(e).toBeInstanceOf(GitError)
    const ge = e as GitError
    expect(ge.kind).toBe('exit')
    expect(ge.exitCode).toBe(128)
    expect(ge.stderr).toMatch(/not a git repository/)
    expect(ge.command).toBe('git rev-parse --show-toplevel')
    const missing = await runGit(['status'], { cwd: join(d, 'nope') }).then(() => null, (x: unknown) => x as GitError)
    expect(missing?.kind).toBe('failed')
    expect(missing?.message).toMatch(/does not exist/)
  })
})

describe('inspectFolder', () => {
  it('says why a folder is not a repository', async () => {
    const d = dir('wt-plain')
    write(d, 'file.txt', 'x')
    expect(await inspectFolder(join(d, 'missing'))).toMatchObject({ isRepo: false, code: 'not_found' })
    expect(await inspectFolder(join(d, 'file.txt'))).toMatchObject({ isRepo: false, code: 'not_a_directory' })
    const plain = await inspectFolder(d)
    expect(plain).toMatchObject({ isRepo: false, code: 'not_a_repo' })
    expect(plain.isRepo === false && plain.reason).toMatch(/not inside a git repository/)
    const bare = dir('wt-bare')
    g(bare, 'init', '-q', '--bare')
    expect(await inspectFolder(bare)).toMatchObject({ isRepo: false, code: 'bare' })
  })

  it('reports root, head, branch, subfolder and uncommitted changes', async () => {
    const r = repo({ 'src/a.ts': 'a\n', 'b.txt': 'b\n' })
    const head = g(r, 'rev-parse', 'HEAD').trim()
    expect(await inspectFolder(r)).toEqual({ isRepo: true, path: r, root: r, subdir: '', head, branch: 'main', dirty: false, changes: 0, linkedWorktree: false })
    write(r, 'src/a.ts', 'changed\n')
    write(r, 'new.txt', 'n\n')
    const sub = await inspectFolder(join(r, 'src'))
    expect(sub).toMatchObject({ isRepo: true, root: r, subdir: 'src', dirty: true, changes: 2 })
    const empty = dir('wt-empty')
    g(empty, 'init', '-q', '-b', 'trunk')
    expect(await inspectFolder(empty)).toMatchObject({ isRepo: true, head: null, branch: 'trunk' })
    g(r, 'checkout', '-q', '--detach')
    expect(await inspectFolder(r)).toMatchObject({ isRepo: true, branch: null })
  })
})

describe('branch names', () => {
  it('derives a valid branch from any agent name', async () => {
    expect(slugify('Alice Smith!')).toBe('alice-smith')
    expect(slugify('..')).toBe('agent')
    expect(slugify('build.lock')).toBe('build')
    expect(slugify('Ünïcode  agent')).toBe('unicode-agent')
    expect(slugify('a/b\\c:d')).toBe('a-b-c-d')
    expect(slugify('y'.repeat(55) + '.lock.lock')).toBe('y'.repeat(55))
    expect(branchNameForAgent('Reviewer 2')).toBe('relay/reviewer-2')
    const r = repo()
    for (const name of ['Alice', '~weird^name:', '...', 'x'.repeat(300), '-dash', 'HEAD']) {
      const wt = await createAgentWorktree({ repoPath: r, agentName: name, root: dir('wt-root') })
      expect(g(r, 'check-ref-format', `refs/heads/${wt.branch}`)).toBe('')
    }
  })

  it('suggests the next free branch name', async () => {
    const r = repo()
    expect(await suggestBranchName(r, 'Alice')).toBe('relay/alice')
    g(r, 'branch', 'relay/alice')
    g(r, 'branch', 'relay/alice-2')
    expect(await suggestBranchName(r, 'Alice')).toBe('relay/alice-3')
  })
})

describe('createAgentWorktree', () => {
  it('gives two agents on one repository their own worktrees: changes in one are not in the other', async () => {
    const r = repo({ 'shared.txt': 'base\n' })
    const head = g(r, 'rev-parse', 'HEAD').trim()
    const root = join(dir('wt-data'), 'worktrees')
    const alice = await createAgentWorktree({ repoPath: r, agentName: 'Alice', root })
    const bob = await createAgentWorktree({ repoPath: r, agentName: 'Bob', root })
    const repoName = slugify(r.split('/').pop()!)
    expect(alice).toEqual({ agentName: 'Alice', path: join(root, repoName, 'alice'), cwd: join(root, repoName, 'alice'), branch: 'relay/alice', baseCommit: head, repoRoot: r, warnings: [] })
    expect(bob.path).toBe(join(root, repoName, 'bob'))
    expect(g(alice.path, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('relay/alice')
    expect(await readAgentWorktree(alice.path)).toEqual({ version: 1, agentName: 'Alice', branch: 'relay/alice', baseCommit: head, repoRoot: r })
    expect(await readAgentWorktree(r)).toBeNull()
    expect(await inspectFolder(alice.path)).toMatchObject({ isRepo: true, root: alice.path, linkedWorktree: true, branch: 'relay/alice' })

    write(alice.path, 'shared.txt', 'alice was here\n')
    write(alice.path, 'alice-only.txt', 'a\n')
    g(alice.path, 'add', 'alice-only.txt')
    g(alice.path, 'commit', '-q', '-m', 'alice work')
    write(bob.path, 'bob.txt', 'b\n')

    expect(readFileSync(join(bob.path, 'shared.txt'), 'utf8')).toBe('base\n')
    expect(existsSync(join(bob.path, 'alice-only.txt'))).toBe(false)
    expect(readFileSync(join(r, 'shared.txt'), 'utf8')).toBe('base\n')
    expect(existsSync(join(r, 'bob.txt'))).toBe(false)
    expect((await worktreeStatus(r)).clean).toBe(true)

    const aDiff = await agentDiff(alice.path, alice.baseCommit)
    const bDiff = await agentDiff(bob.path, bob.baseCommit)
    expect(aDiff.files.map((f) => f.path)).toEqual(['alice-only.txt', 'shared.txt'])
    expect(aDiff.commits).toBe(1)
    expect(bDiff.files.map((f) => f.path)).toEqual(['bob.txt'])
    expect(bDiff.commits).toBe(0)
  })

  it('starts in the same subfolder, and warns that uncommitted changes in the source are not in the worktree', async () => {
    const r = repo({ 'pkg/app/main.ts': 'x\n' })
    write(r, 'pkg/app/main.ts', 'uncommitted\n')
    const wt = await createAgentWorktree({ repoPath: join(r, 'pkg/app'), agentName: 'Carol', root: dir('wt-root') })
    expect(wt.cwd).toBe(join(wt.path, 'pkg/app'))
    expect(wt.warnings).toEqual([{ code: 'source_dirty', message: expect.stringMatching(/1 uncommitted change; they are not in the agent's worktree/) }])
    expect(readFileSync(join(wt.path, 'pkg/app/main.ts'), 'utf8')).toBe('x\n')
  })

  it('warns when the worktree folder is inside the repository and not ignored', async () => {
    const r = repo()
    const inside = await createAgentWorktree({ repoPath: r, agentName: 'In', root: join(r, '.worktrees') })
    expect(inside.warnings.map((w) => w.code)).toEqual(['root_inside_repo'])
    write(r, '.gitignore', '.agents/\n')
    const ignored = await createAgentWorktree({ repoPath: r, agentName: 'Ig', root: join(r, '.agents') })
    expect(ignored.warnings.map((w) => w.code)).toEqual(['source_dirty'])
  })

  it('takes an explicit branch and base', async () => {
    const r = repo({ 'a.txt': '1\n' })
    const first = g(r, 'rev-parse', 'HEAD').trim()
    write(r, 'a.txt', '2\n')
    g(r, 'commit', '-qam', 'second')
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'Dan', branch: 'feature/dan-work', baseRef: first, root: dir('wt-root') })
    expect(wt.branch).toBe('feature/dan-work')
    expect(wt.baseCommit).toBe(first)
    expect(readFileSync(join(wt.path, 'a.txt'), 'utf8')).toBe('1\n')
    expect((await rejection(createAgentWorktree({ repoPath: r, agentName: 'Dan', baseRef: 'no-such-ref', root: dir('wt-root') }))).code).toBe('bad_base')
  })

  it('fails clearly: not found, not a repository, no commits', async () => {
    const root = dir('wt-root')
    const d = dir('wt-plain')
    expect((await rejection(createAgentWorktree({ repoPath: join(d, 'missing'), agentName: 'a', root }))).code).toBe('not_found')
    const notRepo = await rejection(createAgentWorktree({ repoPath: d, agentName: 'a', root }))
    expect(notRepo.code).toBe('not_a_repo')
    expect(notRepo.message).toMatch(/is not inside a git repository/)
    const empty = dir('wt-empty')
    g(empty, 'init', '-q')
    const noCommits = await rejection(createAgentWorktree({ repoPath: empty, agentName: 'a', root }))
    expect(noCommits.code).toBe('no_commits')
    expect(noCommits.message).toMatch(/has no commits yet/)
  })

  it('fails clearly on an existing branch and an invalid one, and leaves no folder behind', async () => {
    const r = repo()
    const root = dir('wt-root')
    await createAgentWorktree({ repoPath: r, agentName: 'Eve', root })
    const exists = await rejection(createAgentWorktree({ repoPath: r, agentName: 'Eve', root }))
    expect(exists.code).toBe('branch_exists')
    expect(exists.message).toMatch(/a branch named 'relay\/eve' already exists/)
    g(r, 'branch', 'taken')
    expect((await rejection(createAgentWorktree({ repoPath: r, agentName: 'x', branch: 'taken', root }))).code).toBe('branch_exists')
    for (const bad of ['has space', 'a..b', '-x', 'HEAD', 'x@{1}', 'end/', 'x.lock', 'q?']) {
      const e = await rejection(createAgentWorktree({ repoPath: r, agentName: 'x', branch: bad, root }))
      expect(e.code, bad).toBe('invalid_branch')
      expect(e.message).toContain(`'${bad}' is not a valid branch name`)
    }
    expect(existsSync(join(root, slugify(r.split('/').pop()!), 'x'))).toBe(false)
    expect(existsSync(join(root, slugify(r.split('/').pop()!), 'eve-2'))).toBe(false)
  })

  it('reports a failing git worktree add with git’s message and cleans up', async () => {
    const r = repo()
    const root = dir('wt-root')
    // refs/heads/relay is a branch, so refs/heads/relay/x cannot be created: git refuses.
    g(r, 'branch', 'relay')
    const e = await rejection(createAgentWorktree({ repoPath: r, agentName: 'x', root }))
    expect(e.code).toBe('worktree_add_failed')
    expect(e.message).toMatch(/^git worktree add failed: .*relay\/x/s)
    expect(existsSync(join(root, slugify(r.split('/').pop()!), 'x'))).toBe(false)
    expect(g(r, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1)
  })
})

describe('worktreeStatus', () => {
  it('counts staged, unstaged and untracked files', async () => {
    const r = repo({ 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n' })
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'S', root: dir('wt-root') })
    expect(await worktreeStatus(wt.path)).toEqual({ clean: true, staged: 0, unstaged: 0, untracked: 0, conflicted: 0, entries: [] })
    write(wt.path, 'a.txt', 'staged\n')
    g(wt.path, 'add', 'a.txt')
    write(wt.path, 'a.txt', 'staged then changed\n')
    write(wt.path, 'b.txt', 'unstaged\n')
    g(wt.path, 'mv', 'c.txt', 'c2.txt')
    write(wt.path, 'dir/n 1.txt', 'new\n')
    write(wt.path, 'dir/n2.txt', 'new\n')
    const s = await worktreeStatus(wt.path)
    expect(s).toMatchObject({ clean: false, staged: 2, unstaged: 2, untracked: 2, conflicted: 0 })
    expect(s.entries).toEqual([
      { path: 'a.txt', kind: 'changed', index: 'M', worktree: 'M' },
      { path: 'b.txt', kind: 'changed', index: '.', worktree: 'M' },
      { path: 'c2.txt', origPath: 'c.txt', kind: 'renamed', index: 'R', worktree: '.' },
      { path: 'dir/n 1.txt', kind: 'untracked', index: '?', worktree: '?' },
      { path: 'dir/n2.txt', kind: 'untracked', index: '?', worktree: '?' },
    ])
    expect((await rejection(worktreeStatus(dir('wt-plain')))).code).toBe('not_a_repo')

    const r2 = repo({ 'c.txt': 'base\n' })
    g(r2, 'checkout', '-qb', 'other')
    write(r2, 'c.txt', 'other\n')
    g(r2, 'commit', '-qam', 'other')
    g(r2, 'checkout', '-q', 'main')
    write(r2, 'c.txt', 'main\n')
    g(r2, 'commit', '-qam', 'main')
    expect(() => g(r2, 'merge', '-q', 'other')).toThrow()
    expect(await worktreeStatus(r2)).toMatchObject({ clean: false, conflicted: 1, entries: [{ path: 'c.txt', kind: 'unmerged', index: 'U', worktree: 'U' }] })
  })
})

describe('removeAgentWorktree', () => {
  async function setup() {
    const r = repo({ 'a.txt': 'a\n' })
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'Rem', root: dir('wt-root') })
    const registered = () => g(r, 'worktree', 'list', '--porcelain').includes(`worktree ${wt.path}\n`)
    const branchExists = () => g(r, 'branch', '--list', wt.branch).trim() !== ''
    return { r, wt, registered, branchExists }
  }

  it("'keep' leaves everything in place", async () => {
    const { wt, registered } = await setup()
    write(wt.path, 'work.txt', 'w\n')
    expect(await removeAgentWorktree(wt.path, { mode: 'keep' })).toEqual({ removed: false, branch: null, branchDeleted: false })
    expect(existsSync(join(wt.path, 'work.txt'))).toBe(true)
    expect(registered()).toBe(true)
  })

  it("'if-clean' refuses uncommitted work and lists it; nothing is deleted", async () => {
    const { wt, registered } = await setup()
    write(wt.path, 'a.txt', 'changed\n')
    write(wt.path, 'notes.txt', 'untracked\n')
    const e = await rejection(removeAgentWorktree(wt.path, { mode: 'if-clean' }))
    expect(e.code).toBe('dirty')
    expect(e.message).toContain('1 unstaged, 1 untracked: .M a.txt; ?? notes.txt')
    expect(e.detail.status?.entries.map((x) => x.path)).toEqual(['a.txt', 'notes.txt'])
    expect(readFileSync(join(wt.path, 'notes.txt'), 'utf8')).toBe('untracked\n')
    expect(registered()).toBe(true)
  })

  it("'if-clean' removes a clean worktree, prunes its registration and keeps the branch unless asked", async () => {
    const { wt, registered, branchExists } = await setup()
    expect(await removeAgentWorktree(wt.path, { mode: 'if-clean' })).toEqual({ removed: true, branch: 'relay/rem', branchDeleted: false })
    expect(existsSync(wt.path)).toBe(false)
    expect(registered()).toBe(false)
    expect(branchExists()).toBe(true)
  })

  it('deletes the branch only when it has no commits beyond its base', async () => {
    const a = await setup()
    expect(await removeAgentWorktree(a.wt.path, { mode: 'if-clean', deleteBranch: true })).toEqual({ removed: true, branch: 'relay/rem', branchDeleted: true })
    expect(a.branchExists()).toBe(false)

    const b = await setup()
    write(b.wt.path, 'a.txt', 'committed\n')
    g(b.wt.path, 'commit', '-qam', 'work')
    const res = await removeAgentWorktree(b.wt.path, { mode: 'if-clean', deleteBranch: true })
    expect(res).toEqual({ removed: true, branch: 'relay/rem', branchDeleted: false, branchKept: 'relay/rem has 1 commit beyond its base' })
    expect(b.branchExists()).toBe(true)
    expect(g(b.r, 'show', 'relay/rem:a.txt')).toBe('committed\n')
  })

  it("'force' removes uncommitted work", async () => {
    const { wt, registered } = await setup()
    write(wt.path, 'a.txt', 'changed\n')
    write(wt.path, 'notes.txt', 'untracked\n')
    expect((await removeAgentWorktree(wt.path, { mode: 'force' })).removed).toBe(true)
    expect(existsSync(wt.path)).toBe(false)
    expect(registered()).toBe(false)
  })

  it('never removes a main working tree or part of a worktree; prunes a folder deleted by hand', async () => {
    const { r, wt, registered } = await setup()
    mkdirSync(join(wt.path, 'sub'))
    expect((await rejection(removeAgentWorktree(r, { mode: 'force' }))).code).toBe('not_a_worktree')
    expect((await rejection(removeAgentWorktree(join(wt.path, 'sub'), { mode: 'force' }))).code).toBe('not_a_worktree')
    expect((await rejection(removeAgentWorktree(dir('wt-plain'), { mode: 'force' }))).code).toBe('not_a_worktree')
    expect(existsSync(join(r, 'a.txt'))).toBe(true)
    rmSync(wt.path, { recursive: true, force: true })
    expect((await rejection(removeAgentWorktree(wt.path, { mode: 'if-clean' }))).code).toBe('not_found')
    expect(registered()).toBe(true)
    expect((await removeAgentWorktree(wt.path, { mode: 'if-clean', repoPath: r })).removed).toBe(true)
    expect(registered()).toBe(false)
  })
})

describe('agentDiff', () => {
  const byPath = (files: FileDiff[], path: string) => {
    const f = files.find((x) => x.path === path)
    if (!f) throw new Error(`no diff for ${path} among ${files.map((x) => x.path).join(', ')}`)
    return f
  }

  async function agentWithChanges() {
    const r = repo({
      'mod.txt': lines('l', 20),
      'shift.txt': lines('s', 8),
      'del.txt': 'gone\n',
      'ren.txt': lines('r', 10),
      'moved.txt': lines('m', 5),
      'nonl.txt': 'x\n',
    })
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'Differ', root: dir('wt-root') })
    const p = wt.path
    // committed since base
    write(p, 'mod.txt', lines('l', 20).replace('l2\n', 'L2\n'))
    g(p, 'commit', '-qam', 'agent commit')
    // unstaged on top of the commit
    write(p, 'mod.txt', lines('l', 20).replace('l2\n', 'L2\n').replace('l15\n', 'L15\n'))
    write(p, 'shift.txt', lines('s', 8).replace('s4\n', 's4\nnew-a\nnew-b\n'))
    unlinkSync(join(p, 'del.txt'))
    // renamed by hand: the new name is untracked, one line changed
    renameSync(join(p, 'ren.txt'), join(p, 'renamed.txt'))
    write(p, 'renamed.txt', lines('r', 10).replace('r10\n', 'R10\n'))
    // renamed and staged
    mkdirSync(join(p, 'dir'))
    g(p, 'mv', 'moved.txt', 'dir/moved.txt')
    // staged new file
    write(p, 'staged.txt', 'one\ntwo\n')
    g(p, 'add', 'staged.txt')
    // untracked
    write(p, 'new.txt', 'hello\nworld\n')
    write(p, 'img.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 0, 255]))
    write(p, 'a b.txt', 'spaced\n')
    write(p, 'é x.txt', 'accent\n')
    write(p, 'empty.txt', '')
    write(p, 'nonl.txt', 'x\ny')
    write(p, '.gitignore', 'ignored.log\n')
    write(p, 'ignored.log', 'never shown\n')
    return { r, wt }
  }

  it('shows committed, staged, unstaged and untracked changes with exact line numbers', async () => {
    const { wt } = await agentWithChanges()
    const d = await agentDiff(wt.path, wt.baseCommit)
    expect(d.baseCommit).toBe(wt.baseCommit)
    expect(d.commits).toBe(1)
    expect(d.truncated).toBe(false)
    expect(d.files.map((f) => [f.status, f.path, f.oldPath ?? null, f.untracked])).toEqual([
      ['added', '.gitignore', null, true],
      ['added', 'a b.txt', null, true],
      ['deleted', 'del.txt', null, false],
      ['renamed', 'dir/moved.txt', 'moved.txt', false],
      ['added', 'empty.txt', null, true],
      ['added', 'img.bin', null, true],
      ['modified', 'mod.txt', null, false],
      ['added', 'new.txt', null, true],
      ['modified', 'nonl.txt', null, false],
      ['renamed', 'renamed.txt', 'ren.txt', true],
      ['modified', 'shift.txt', null, false],
      ['added', 'staged.txt', null, false],
      ['added', 'é x.txt', null, true],
    ])

    const mod = byPath(d.files, 'mod.txt')
    expect([mod.additions, mod.deletions]).toEqual([2, 2])
    expect(mod.hunks.map((h) => [h.oldStart, h.oldLines, h.newStart, h.newLines])).toEqual([[1, 5, 1, 5], [12, 7, 12, 7]])
    expect(mod.hunks[0].header).toBe('@@ -1,5 +1,5 @@')
    expect(mod.hunks[0].lines).toEqual([
      { kind: 'context', text: 'l1', oldLine: 1, newLine: 1 },
      { kind: 'del', text: 'l2', oldLine: 2, newLine: null },
      { kind: 'add', text: 'L2', oldLine: null, newLine: 2 },
      { kind: 'context', text: 'l3', oldLine: 3, newLine: 3 },
      { kind: 'context', text: 'l4', oldLine: 4, newLine: 4 },
      { kind: 'context', text: 'l5', oldLine: 5, newLine: 5 },
    ])
    expect(mod.hunks[1].lines.filter((l) => l.kind !== 'context')).toEqual([
      { kind: 'del', text: 'l15', oldLine: 15, newLine: null },
      { kind: 'add', text: 'L15', oldLine: null, newLine: 15 },
    ])
    expect(mod.hunks[1].lines.at(-1)).toEqual({ kind: 'context', text: 'l18', oldLine: 18, newLine: 18 })

    const shift = byPath(d.files, 'shift.txt')
    expect(shift.hunks).toHaveLength(1)
    expect(shift.hunks[0].header).toBe('@@ -2,6 +2,8 @@ s1')
    expect(shift.hunks[0].lines.map((l) => [l.kind, l.text, l.oldLine, l.newLine])).toEqual([
      ['context', 's2', 2, 2],
      ['context', 's3', 3, 3],
      ['context', 's4', 4, 4],
      ['add', 'new-a', null, 5],
      ['add', 'new-b', null, 6],
      ['context', 's5', 5, 7],
      ['context', 's6', 6, 8],
      ['context', 's7', 7, 9],
    ])

    const del = byPath(d.files, 'del.txt')
    expect(del.oldMode).toBe('100644')
    expect(del.hunks).toEqual([{ header: '@@ -1 +0,0 @@', oldStart: 1, oldLines: 1, newStart: 0, newLines: 0, lines: [{ kind: 'del', text: 'gone', oldLine: 1, newLine: null }] }])

    const added = byPath(d.files, 'new.txt')
    expect(added.newMode).toBe('100644')
    expect(added.hunks[0].header).toBe('@@ -0,0 +1,2 @@')
    expect(added.hunks[0].lines).toEqual([
      { kind: 'add', text: 'hello', oldLine: null, newLine: 1 },
      { kind: 'add', text: 'world', oldLine: null, newLine: 2 },
    ])
    expect(byPath(d.files, 'staged.txt').hunks[0].lines.map((l) => l.text)).toEqual(['one', 'two'])
    expect(byPath(d.files, 'a b.txt').hunks[0].lines).toEqual([{ kind: 'add', text: 'spaced', oldLine: null, newLine: 1 }])
    expect(byPath(d.files, 'é x.txt').hunks[0].lines[0].text).toBe('accent')
    expect(byPath(d.files, 'empty.txt')).toMatchObject({ hunks: [], additions: 0, binary: false })

    const bin = byPath(d.files, 'img.bin')
    expect(bin).toMatchObject({ binary: true, hunks: [], additions: 0, deletions: 0 })

    const nonl = byPath(d.files, 'nonl.txt')
    expect(nonl.hunks[0].lines).toEqual([
      { kind: 'context', text: 'x', oldLine: 1, newLine: 1 },
      { kind: 'add', text: 'y', oldLine: null, newLine: 2, noNewline: true },
    ])

    expect(byPath(d.files, 'dir/moved.txt')).toMatchObject({ similarity: 100, hunks: [], additions: 0 })
    const ren = byPath(d.files, 'renamed.txt')
    expect(ren.similarity).toBeGreaterThanOrEqual(80)
    expect(ren.hunks[0].lines.filter((l) => l.kind !== 'context')).toEqual([
      { kind: 'del', text: 'r10', oldLine: 10, newLine: null },
      { kind: 'add', text: 'R10', oldLine: null, newLine: 10 },
    ])
    expect(d.additions).toBe(d.files.reduce((n, f) => n + f.additions, 0))
  })

  it('reads odd file names and lines that look like diff headers', async () => {
    const r = repo({ 'q.sql': 'select 1;\n-- a comment\n++ not a header\n', 'old name.txt': lines('o', 6) })
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'Odd', root: dir('wt-root') })
    const odd = ['tab\tname.txt', 'quote"name.txt', 'back\\slash.txt', ' lead.txt', 'new\nline.txt', 'ünï.txt']
    for (const name of odd) write(wt.path, name, `${name.length}\n`)
    write(wt.path, 'q.sql', 'select 1;\n')
    g(wt.path, 'mv', 'old name.txt', 'new "name".txt')
    const d = await agentDiff(wt.path, wt.baseCommit)
    for (const name of odd) expect(byPath(d.files, name).hunks[0].lines).toEqual([{ kind: 'add', text: `${name.length}`, oldLine: null, newLine: 1 }])
    expect(byPath(d.files, 'new "name".txt')).toMatchObject({ status: 'renamed', oldPath: 'old name.txt', similarity: 100 })
    expect(byPath(d.files, 'q.sql').hunks[0].lines).toEqual([
      { kind: 'context', text: 'select 1;', oldLine: 1, newLine: 1 },
      { kind: 'del', text: '-- a comment', oldLine: 2, newLine: null },
      { kind: 'del', text: '++ not a header', oldLine: 3, newLine: null },
    ])
  })

  it('never changes the index or the status of the worktree', async () => {
    const { wt } = await agentWithChanges()
    const indexFile = g(wt.path, 'rev-parse', '--path-format=absolute', '--git-path', 'index').trim()
    const before = { status: g(wt.path, 'status', '--porcelain'), files: g(wt.path, 'ls-files', '-s'), index: readFileSync(indexFile) }
    await agentDiff(wt.path, wt.baseCommit)
    await agentDiff(wt.path, wt.baseCommit)
    expect(readFileSync(indexFile).equals(before.index)).toBe(true)
    expect(g(wt.path, 'ls-files', '-s')).toBe(before.files)
    expect(g(wt.path, 'status', '--porcelain')).toBe(before.status)
    expect(before.status).toContain('?? new.txt')
  })

  it('caps huge files with a truncated marker and keeps counting', async () => {
    const r = repo()
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'Big', root: dir('wt-root') })
    write(wt.path, 'big.txt', lines('b', 10_000))
    write(wt.path, 'small.txt', 'tiny\n')
    write(wt.path, 'wide.txt', 'w'.repeat(5000) + '\n')
    const d = await agentDiff(wt.path, wt.baseCommit, { maxLinesPerFile: 100, maxLineLength: 1000 })
    const big = byPath(d.files, 'big.txt')
    expect(big).toMatchObject({ truncated: true, additions: 10_000 })
    expect(big.hunks.flatMap((h) => h.lines)).toHaveLength(100)
    expect(big.hunks[0].lines.at(-1)).toEqual({ kind: 'add', text: 'b100', oldLine: null, newLine: 100 })
    expect(byPath(d.files, 'small.txt')).toMatchObject({ truncated: false, additions: 1 })
    expect(byPath(d.files, 'wide.txt').hunks[0].lines[0]).toMatchObject({ text: 'w'.repeat(1000), cut: true })
    expect(d.truncated).toBe(true)

    const capped = await agentDiff(wt.path, wt.baseCommit, { maxTotalLines: 50 })
    expect(byPath(capped.files, 'big.txt').hunks[0].lines).toHaveLength(50)
    expect(byPath(capped.files, 'small.txt')).toMatchObject({ truncated: true, additions: 1, hunks: [] })
  })

  it('fails clearly on an unknown base and outside a repository', async () => {
    const r = repo()
    expect((await rejection(agentDiff(r, 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef'))).code).toBe('bad_base')
    expect((await rejection(agentDiff(dir('wt-plain'), 'deadbeef'))).code).toBe('not_a_repo')
  })
})

describe('watchWorktree', () => {
  const open: WorktreeWatcher[] = []
  afterAll(() => open.forEach((w) => w.close()))

  async function watched(root: string, strategy?: 'native' | 'walk') {
    const batches: string[][] = []
    const errors: Error[] = []
    const w = await watchWorktree(root, (paths) => batches.push(paths), { debounceMs: 20, strategy, onError: (e) => errors.push(e) })
    open.push(w)
    const seen = (path: string) => waitFor(() => batches.some((b) => b.includes(path)), `a change to ${path}`, 5_000)
    return { w, batches, errors, seen }
  }

  it('reports file changes, also in subfolders, and nothing under .git or in ignored folders', async () => {
    const r = repo({ 'a.txt': 'a\n', 'src/deep/b.ts': 'b\n', '.gitignore': 'node_modules/\n' })
    mkdirSync(join(r, 'node_modules/pkg'), { recursive: true })
    const { batches, errors, seen } = await watched(r)
    write(r, 'a.txt', 'changed\n')
    await seen('a.txt')
    write(r, 'src/deep/b.ts', 'changed\n')
    await seen('src/deep/b.ts')

    g(r, 'config', 'relay.test', '1')
    writeFileSync(join(r, '.git', 'relay-probe'), 'x')
    write(r, 'node_modules/pkg/index.js', 'x')
    // Events arrive in order: once the sentinel is reported, the ones before it were seen.
    write(r, 'sentinel.txt', 'x')
    await seen('sentinel.txt')
    const all = batches.flat()
    expect(all.filter((p) => p.split('/').includes('.git') || p.startsWith('node_modules'))).toEqual([])
    expect(errors).toEqual([])
  })

  it('watches folders created after it started, in an agent worktree', async () => {
    const r = repo()
    const wt = await createAgentWorktree({ repoPath: r, agentName: 'W', root: dir('wt-root') })
    const { batches, seen } = await watched(wt.path)
    mkdirSync(join(wt.path, 'fresh'))
    await seen('fresh')
    // The folder's own watch starts right after its creation is seen; write until a change inside it is reported.
    await waitFor(() => {
      write(wt.path, 'fresh/inner.txt', String(Math.random()))
      return batches.some((b) => b.includes('fresh/inner.txt'))
    }, 'a change inside a new folder', 5_000)
    g(wt.path, 'add', '-A')
    g(wt.path, 'commit', '-qm', 'x')
    write(wt.path, 'after.txt', 'x')
    await seen('after.txt')
    expect(batches.flat().some((p) => p.includes('.git'))).toBe(false)
  })

  it('works with the native recursive strategy too, filtering .git', async () => {
    const r = repo({ 'a.txt': 'a\n', 'src/x.ts': 'x\n' })
    const { batches, seen } = await watched(r, 'native')
    writeFileSync(join(r, '.git', 'relay-probe'), 'x')
    write(r, 'src/x.ts', 'y\n')
    await seen('src/x.ts')
    expect(batches.flat().some((p) => p.includes('.git'))).toBe(false)
  })

  it('fails clearly for a missing folder', async () => {
    await expect(watchWorktree(join(dir('wt-plain'), 'missing'), () => undefined)).rejects.toThrow(/does not exist/)
  })
})

describe('IPC schemas', () => {
  it('accept well-formed requests and reject bad input with a message', () => {
    expect(CreateWorktreeRequest.parse({ repoPath: '/r', agentName: ' Alice ' })).toEqual({ repoPath: '/r', agentName: 'Alice' })
    expect(CreateWorktreeRequest.safeParse({ repoPath: 'relative', agentName: 'a' }).error?.issues[0].message).toBe('the path must be absolute')
    expect(CreateWorktreeRequest.safeParse({ repoPath: '/r', agentName: '' }).success).toBe(false)
    expect(RemoveWorktreeRequest.safeParse({ path: '/w', mode: 'delete-everything' }).success).toBe(false)
    expect(RemoveWorktreeRequest.parse({ path: '/w', mode: 'if-clean', deleteBranch: true })).toEqual({ path: '/w', mode: 'if-clean', deleteBranch: true })
    expect(AgentDiffRequest.safeParse({ worktreePath: '/w', baseCommit: 'HEAD; rm -rf /' }).success).toBe(false)
    expect(AgentDiffRequest.safeParse({ worktreePath: '/w\0x', baseCommit: 'abcdef1' }).success).toBe(false)
    expect(defaultWorktreeRoot('/data')).toBe('/data/worktrees')
  })
})
