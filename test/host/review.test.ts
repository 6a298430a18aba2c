/**
 * Worktrees and review through the host's contract (issue 15), with the real embedded engine,
 * broker, PTYs and git: two agents on one repository each in its own worktree, each one's
 * diff, a review comment typed into the agent as a relay message, and what stopping does
 * with a worktree (nothing with uncommitted work is deleted unless asked twice).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { AgentDiffInfo, AgentInfo, CommandOutcome, CommandName, FeedMessage, FolderInfo, WorktreeStatusInfo } from '../../shared/ipc'
import { createHost, type Host } from '../../electron/host'
import { tempDir, waitFor } from '../support/wait'

const hosts: Host[] = []
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop()
})

// git with an empty global config and a fixed identity, whatever the machine has.
const saved: Record<string, string | undefined> = {}
beforeAll(() => {
  const home = tempDir('review-git-home')
  writeFileSync(join(home, 'gitconfig'), '[user]\n\tname = Test\n\temail = t@example.com\n')
  for (const [k, v] of Object.entries({ GIT_CONFIG_GLOBAL: join(home, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1' })) {
    saved[k] = process.env[k]
    process.env[k] = v
  }
})
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

function repo(): string {
  const r = realpathSync(tempDir('review-repo'))
  git(r, 'init', '-q', '-b', 'main')
  mkdirSync(join(r, 'src'))
  writeFileSync(join(r, 'src', 'app.ts'), 'export const a = 1\nexport const b = 2\nexport const c = 3\n')
  git(r, 'add', '-A')
  git(r, 'commit', '-q', '-m', 'base')
  return r
}

async function startedHost() {
  const dataDir = tempDir('review-host')
  const host = createHost({ dataDir, nodeName: 'desk', broker: { cwd: () => dataDir, env: { ...process.env, RELAY_NODE_TOKEN: '' } }, idleSweepMs: 100 })
  hosts.push(host)
  const events: Array<{ event: string; payload: unknown }> = []
  host.onEvent((event, payload) => events.push({ event, payload }))
  await host.start()
  await waitFor(() => host.status().state === 'connected', 'node connected')
  return { host, events, dataDir }
}

async function call<C extends CommandName>(host: Host, command: C, request: unknown): Promise<CommandOutcome<C>> {
  return (await host.invoke(command, request)) as CommandOutcome<C>
}

async function ok<T>(p: Promise<CommandOutcome<CommandName>>): Promise<T> {
  const out = await p
  if (!out.ok) throw new Error(`command failed: ${out.error.code}: ${out.error.message}`)
  return out.result as T
}

async function failure(p: Promise<CommandOutcome<CommandName>>): Promise<{ code: string; message: string }> {
  const out = await p
  if (out.ok) throw new Error('expected the command to fail')
  return out.error
}

/** A bash agent that writes its own file into its folder, then becomes `cat` (which types back what it gets). */
const writer = (name: string, file: string, line: string) => ({
  name, command: 'bash', args: ['--noprofile', '--norc', '-c', `printf '%s\\n' '${line}' > ${file}; exec cat`],
})

describe('worktrees and review through the host', () => {
  it('two agents on one repository, each in its own worktree: each sees only its own changes, the repository none', async () => {
    const { host, events, dataDir } = await startedHost()
    const r = repo()
    const info = await ok<FolderInfo>(call(host, 'worktree.inspect', { path: join(r, 'src'), agentName: 'alpha' }))
    expect(info).toMatchObject({ isRepo: true, root: r, branch: 'main', dirty: false, suggestedBranch: 'relay/alpha' })

    const alpha = await ok<AgentInfo>(call(host, 'agents.spawn', { ...writer('alpha', 'alpha.txt', 'from alpha'), cwd: join(r, 'src'), worktree: {} }))
    const beta = await ok<AgentInfo>(call(host, 'agents.spawn', { ...writer('beta', 'beta.txt', 'from beta'), cwd: r, worktree: { branch: 'review/beta-work' } }))
    expect(alpha.worktree).toMatchObject({ branch: 'relay/alpha', repoRoot: r })
    // Every window learns it, not only the one that spawned: an agent.changed carries the worktree.
    expect(events.some((e) => e.event === 'agent.changed' && (e.payload as AgentInfo).name === 'alpha' && (e.payload as AgentInfo).worktree?.branch === 'relay/alpha')).toBe(true)
    expect(beta.worktree).toMatchObject({ branch: 'review/beta-work', repoRoot: r })
    const aPath = alpha.worktree!.path
    const bPath = beta.worktree!.path
    expect(aPath.startsWith(join(dataDir, 'worktrees'))).toBe(true)
    expect(alpha.cwd).toBe(join(aPath, 'src')) // the same subfolder of the worktree
    expect(beta.cwd).toBe(bPath)

    await waitFor(() => existsSync(join(aPath, 'src', 'alpha.txt')) && existsSync(join(bPath, 'beta.txt')), 'both agents wrote their file')
    const aDiff = await waitFor(async () => {
      const d = await ok<AgentDiffInfo>(call(host, 'diff.get', { name: 'alpha' }))
      return d.files.length ? d : undefined
    }, 'alpha diff')
    expect(aDiff.files.map((f) => [f.path, f.status, f.untracked])).toEqual([['src/alpha.txt', 'added', true]])
    expect(aDiff.files[0]?.hunks[0]?.lines).toEqual([{ kind: 'add', text: 'from alpha', oldLine: null, newLine: 1 }])
    const bDiff = await ok<AgentDiffInfo>(call(host, 'diff.get', { name: 'beta' }))
    expect(bDiff.files.map((f) => f.path)).toEqual(['beta.txt'])
    expect(existsSync(join(r, 'beta.txt')) || existsSync(join(r, 'src', 'alpha.txt'))).toBe(false)
    expect(git(r, 'status', '--porcelain')).toBe('')

    // A change the test makes in alpha's worktree shows up: diff.changed, then the new diff.
    const seen = events.length
    writeFileSync(join(aPath, 'src', 'app.ts'), 'export const a = 1\nexport const b = 20\nexport const c = 3\n')
    await waitFor(() => events.slice(seen).some((e) => e.event === 'diff.changed' && (e.payload as { name: string }).name === 'alpha'), 'diff.changed for alpha')
    const after = await ok<AgentDiffInfo>(call(host, 'diff.get', { name: 'alpha' }))
    const app = after.files.find((f) => f.path === 'src/app.ts')
    expect(app?.hunks[0]?.lines.filter((l) => l.kind !== 'context')).toEqual([
      { kind: 'del', text: 'export const b = 2', oldLine: 2, newLine: null },
      { kind: 'add', text: 'export const b = 20', oldLine: null, newLine: 2 },
    ])
    expect((await ok<AgentDiffInfo>(call(host, 'diff.get', { name: 'beta' }))).files.map((f) => f.path)).toEqual(['beta.txt'])
  })

  it('a review comment on lines of the diff reaches the agent as a relay message naming the file and lines, and shows in the feed', async () => {
    const { host, events } = await startedHost()
    const r = repo()
    const alpha = await ok<AgentInfo>(call(host, 'agents.spawn', { ...writer('alpha', 'notes.txt', 'draft line'), cwd: r, worktree: {} }))
    await waitFor(() => existsSync(join(alpha.worktree!.path, 'notes.txt')), 'alpha wrote notes.txt')
    writeFileSync(join(alpha.worktree!.path, 'src', 'app.ts'), 'export const a = 1\nexport const b = 2\nexport const c = 30\nexport const d = 4\n')

    const sent = await ok<FeedMessage>(call(host, 'review.comment', { name: 'alpha', path: 'src/app.ts', side: 'new', startLine: 3, endLine: 4, comment: 'Why 30? Keep c at 3.' }))
    expect(sent).toMatchObject({ to: 'alpha', direction: 'out' })
    expect(sent.text).toBe(['Review comment on src/app.ts lines 3-4:', '> +export const c = 30', '> +export const d = 4', '', 'Why 30? Keep c at 3.'].join('\n'))
    // Typed into the agent (cat prints it back) and acked, like any message.
    await waitFor(
      () => events.some((e) => e.event === 'message.changed' && (e.payload as FeedMessage).id === sent.id && ['acked', 'verified'].includes((e.payload as FeedMessage).state)),
      'the comment typed into alpha',
      20_000,
    )
    const screen = (await ok<{ data: string }>(call(host, 'terminal.snapshot', { name: 'alpha' }))).data
    expect(screen).toContain('Why 30? Keep c at 3.')
    expect(screen).toContain('src/app.ts lines 3-4')
    expect((await ok<FeedMessage[]>(call(host, 'messages.list', {}))).some((m) => m.id === sent.id)).toBe(true)

    const outside = await failure(call(host, 'review.comment', { name: 'alpha', path: 'src/other.ts', startLine: 1, endLine: 1, comment: 'x' }))
    expect(outside).toMatchObject({ code: 'not_in_diff' })
    const backwards = await failure(call(host, 'review.comment', { name: 'alpha', path: 'src/app.ts', startLine: 4, endLine: 3, comment: 'x' }))
    expect(backwards).toMatchObject({ code: 'invalid_request' })
  })

  it('stopping: uncommitted work is never deleted unless asked twice; keep leaves the worktree; a clean one is removed with its branch', async () => {
    const { host } = await startedHost()
    const r = repo()
    const dirty = await ok<AgentInfo>(call(host, 'agents.spawn', { ...writer('dirty', 'work.txt', 'unsaved'), cwd: r, worktree: {} }))
    const path = dirty.worktree!.path
    await waitFor(() => existsSync(join(path, 'work.txt')), 'the agent wrote work.txt')

    const status = await ok<WorktreeStatusInfo>(call(host, 'worktree.status', { name: 'dirty' }))
    expect(status).toMatchObject({ clean: false, untracked: 1, files: ['work.txt'], commits: 0 })
    for (const req of [{ worktree: 'remove-if-clean' }, { worktree: 'remove' }, { worktree: 'remove', discardChanges: false }]) {
      const refused = await failure(call(host, 'agents.stop', { name: 'dirty', ...req }))
      expect(refused.code).toBe('worktree_dirty')
      expect(refused.message).toContain('work.txt')
    }
    // Refused before anything stopped.
    expect((await ok<AgentInfo[]>(call(host, 'agents.list', {}))).find((a) => a.name === 'dirty')?.status).toBe('running')
    await ok(call(host, 'agents.stop', { name: 'dirty', worktree: 'remove', discardChanges: true }))
    expect(existsSync(path)).toBe(false)
    expect(git(r, 'branch', '--list', 'relay/dirty')).toBe('')
    expect(git(r, 'worktree', 'list')).not.toContain(path)

    const kept = await ok<AgentInfo>(call(host, 'agents.spawn', { ...writer('keeper', 'k.txt', 'keep me'), cwd: r, worktree: {} }))
    await waitFor(() => existsSync(join(kept.worktree!.path, 'k.txt')), 'keeper wrote k.txt')
    await ok(call(host, 'agents.stop', { name: 'keeper' }))
    expect(existsSync(join(kept.worktree!.path, 'k.txt'))).toBe(true)
    expect((await ok<AgentInfo[]>(call(host, 'agents.list', {}))).find((a) => a.name === 'keeper')?.worktree?.path).toBe(kept.worktree!.path)

    const clean = await ok<AgentInfo>(call(host, 'agents.spawn', { name: 'tidy', command: 'cat', cwd: r, worktree: {} }))
    await ok(call(host, 'agents.stop', { name: 'tidy', worktree: 'remove-if-clean' }))
    expect(existsSync(clean.worktree!.path)).toBe(false)
    expect(git(r, 'branch', '--list', 'relay/tidy')).toBe('')
  })

  it('clear errors: a folder that is not a repository, an existing branch, a repository without commits; nothing is left behind', async () => {
    const { host, dataDir } = await startedHost()
    const plain = tempDir('review-plain')
    expect(await ok<FolderInfo>(call(host, 'worktree.inspect', { path: plain }))).toMatchObject({ isRepo: false })
    expect(await failure(call(host, 'agents.spawn', { name: 'a1', command: 'cat', cwd: plain, worktree: {} }))).toMatchObject({ code: 'not_a_repo' })

    const r = repo()
    git(r, 'branch', 'relay/a2')
    const taken = await failure(call(host, 'agents.spawn', { name: 'a2', command: 'cat', cwd: r, worktree: {} }))
    expect(taken.code).toBe('branch_exists')
    expect(taken.message).toContain('relay/a2')

    const empty = realpathSync(tempDir('review-empty'))
    git(empty, 'init', '-q')
    expect(await failure(call(host, 'agents.spawn', { name: 'a3', command: 'cat', cwd: empty, worktree: {} }))).toMatchObject({ code: 'no_commits' })

    // A spawn that fails after the worktree was made removes it again.
    const missing = await failure(call(host, 'agents.spawn', { name: 'a4', command: 'no-such-program-xyz', cwd: r, worktree: {} }))
    expect(missing.code).not.toBe('internal_error')
    expect(git(r, 'worktree', 'list').trim().split('\n')).toHaveLength(1)
    expect(git(r, 'branch', '--list', 'relay/a4')).toBe('')
    expect((await ok<AgentInfo[]>(call(host, 'agents.list', {}))).map((a) => a.name)).toEqual([])
    expect(existsSync(join(dataDir, 'worktrees'))).toBe(true)
  })
})
