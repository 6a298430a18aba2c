/**
 * Worktrees and review (issue 15) in Chromium against `npm run serve`, through the UI only:
 * two bash agents spawned from the dialog on one git repository, each in its own worktree;
 * one agent's diff in the Changes tab, updated live when a file changes; a review comment on
 * lines of the diff that reaches the agent (cat prints it back) and shows in the feed; and
 * what stopping does with a worktree. The test itself only sets up the repository and looks
 * at the disk. Screenshots go to test-results/review-*.png.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../../scripts/chromium.mjs'
import { startServe, type ServeProcess } from '../support/serve-process'
import { tempDir } from '../support/wait'

let serve: ServeProcess
let browser: Browser
let page: Page
const pageErrors: string[] = []
const shots = resolve(__dirname, '../../test-results')
const marker = Math.random().toString(36).slice(2, 8)

// git (ours and serve's, which inherits the environment) with an empty global config and a
// fixed identity, whatever the machine has.
const savedEnv: Record<string, string | undefined> = {}
function isolateGit() {
  const home = tempDir('review-e2e-git-home')
  writeFileSync(join(home, 'gitconfig'), '[user]\n\tname = Test\n\temail = t@example.com\n')
  for (const [k, v] of Object.entries({ GIT_CONFIG_GLOBAL: join(home, 'gitconfig'), GIT_CONFIG_NOSYSTEM: '1' })) {
    savedEnv[k] = process.env[k]
    process.env[k] = v
  }
}
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

const APP_TS = 'export const a = 1\nexport const b = 2\nexport const c = 3\nexport const d = 4\n'
let repo: string

beforeAll(async () => {
  const executablePath = findChromium()
  if (!executablePath) throw new Error('no Chromium: install it (apt-get install chromium) or set CHROMIUM_PATH')
  mkdirSync(shots, { recursive: true })
  isolateGit()
  repo = realpathSync(tempDir('review-e2e-repo'))
  git(repo, 'init', '-q', '-b', 'main')
  mkdirSync(join(repo, 'src'))
  writeFileSync(join(repo, 'src', 'app.ts'), APP_TS)
  git(repo, 'add', '-A')
  git(repo, 'commit', '-q', '-m', 'base')

  serve = await startServe()
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  })
  page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  page.on('pageerror', (e) => pageErrors.push(e.message))
  await page.goto(serve.url)
  await page.waitForSelector('[data-testid="node-status"][data-state="connected"]', { timeout: 30_000 })
})

afterAll(async () => {
  await browser?.close()
  await serve?.stop()
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

const poll = (fn: () => unknown, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 })
const sel = (testid: string, attrs: Record<string, string | number> = {}) =>
  `[data-testid="${testid}"]${Object.entries(attrs)
    .map(([k, v]) => `[data-${k}="${v}"]`)
    .join('')}`

async function rows(name: string): Promise<string[]> {
  return page.$$eval(`[data-testid="terminal-${name}"] .xterm-rows > div`, (els) => els.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trim()))
}

/** The worktree of each branch of the repository, as git lists them. */
function worktrees(): Map<string, string> {
  const out = new Map<string, string>()
  let path = ''
  for (const line of git(repo, 'worktree', 'list', '--porcelain').split('\n')) {
    if (line.startsWith('worktree ')) path = line.slice('worktree '.length)
    if (line.startsWith('branch refs/heads/')) out.set(line.slice('branch refs/heads/'.length), path)
  }
  return out
}

/** Fills the spawn dialog for a bash agent that writes `file` into its folder, then becomes cat. */
async function fillWriter(name: string, file: string, cwd: string) {
  await page.click('[data-testid="spawn-open"]')
  await page.waitForSelector('[data-testid="spawn-dialog"]')
  await page.fill('[data-testid="spawn-command"]', 'bash')
  await page.fill('[data-testid="spawn-name"]', name)
  await page.fill('[data-testid="spawn-args"]', `--noprofile --norc -c "echo from-${name} > ${file}; exec cat"`)
  await page.uncheck('[data-testid="spawn-restart"]')
  await page.fill('[data-testid="spawn-cwd"]', cwd)
}

let aPath = ''
let bPath = ''
const comment = `Keep b and c as they were (${marker}).`

describe('worktrees and review in Chromium', () => {
  it('a folder that is not a git repository says why, and offers no worktree', async () => {
    const plain = realpathSync(tempDir('review-e2e-plain'))
    await fillWriter('plain', 'p.txt', plain)
    const reason = page.locator('[data-testid="spawn-worktree-reason"]')
    await reason.waitFor({ timeout: 10_000 })
    expect(await reason.textContent()).toMatch(/^No own worktree: .+/)
    expect(await page.locator('[data-testid="spawn-worktree-checkbox"]').count()).toBe(0)
    await page.keyboard.press('Escape')
    await page.waitForSelector('[data-testid="spawn-dialog"]', { state: 'detached' })
  })

  it('two agents spawned on one repository, each in its own worktree, touch only their own files', async () => {
    await fillWriter('alpha', 'alpha.txt', repo)
    await page.waitForSelector('[data-testid="spawn-worktree-checkbox"]', { timeout: 10_000 })
    await page.check('[data-testid="spawn-worktree-checkbox"]')
    // The suggested branch is named after the agent.
    await poll(() => page.inputValue('[data-testid="spawn-worktree-branch"]')).toBe('relay/alpha')
    await page.screenshot({ path: resolve(shots, 'review-spawn-dialog.png') })
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="spawn-dialog"]', { state: 'detached', timeout: 20_000 })
    await page.waitForSelector('[data-testid="agent-row-alpha"][data-status="running"]', { timeout: 20_000 })
    expect(await page.textContent('[data-testid="agent-branch-alpha"]')).toContain('relay/alpha')

    // The second one on an edited branch name.
    await fillWriter('beta', 'beta.txt', repo)
    await page.waitForSelector('[data-testid="spawn-worktree-checkbox"]', { timeout: 10_000 })
    await page.check('[data-testid="spawn-worktree-checkbox"]')
    await poll(() => page.inputValue('[data-testid="spawn-worktree-branch"]')).toBe('relay/beta')
    await page.fill('[data-testid="spawn-worktree-branch"]', 'review/beta-work')
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="spawn-dialog"]', { state: 'detached', timeout: 20_000 })
    await page.waitForSelector('[data-testid="agent-row-beta"][data-status="running"]', { timeout: 20_000 })
    expect(await page.textContent('[data-testid="agent-branch-beta"]')).toContain('review/beta-work')

    const trees = worktrees()
    aPath = trees.get('relay/alpha') ?? ''
    bPath = trees.get('review/beta-work') ?? ''
    expect(aPath).not.toBe('')
    expect(bPath).not.toBe('')
    expect(new Set([repo, aPath, bPath]).size).toBe(3)
    expect(await page.getAttribute('[data-testid="agent-branch-alpha"]', 'title')).toBe(`own worktree: ${aPath}`)
    await poll(() => existsSync(join(aPath, 'alpha.txt')) && existsSync(join(bPath, 'beta.txt')), 10_000).toBe(true)
    expect(readFileSync(join(aPath, 'alpha.txt'), 'utf8')).toBe('from-alpha\n')
    expect(existsSync(join(aPath, 'beta.txt'))).toBe(false)
    expect(existsSync(join(bPath, 'alpha.txt'))).toBe(false)
    expect(existsSync(join(repo, 'alpha.txt')) || existsSync(join(repo, 'beta.txt'))).toBe(false)
    expect(git(repo, 'status', '--porcelain')).toBe('')
  })

  it("alpha's Changes tab shows its own file, and a change on disk without a reload", async () => {
    await page.click('[data-testid="agent-open-alpha"]')
    await page.click('[data-testid="agent-tab-changes"]')
    await page.waitForSelector(sel('diff-view', { agent: 'alpha' }))
    await page.waitForSelector(sel('diff-file', { path: 'alpha.txt' }), { timeout: 10_000 })
    expect(await page.locator('[data-testid="diff-file"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).toEqual(['alpha.txt'])
    expect(await page.getAttribute(sel('diff-file', { path: 'alpha.txt' }), 'data-status')).toBe('untracked')

    // The long worktree path in the caption does not push the panes past the window.
    expect(Number(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth'))).toBeLessThanOrEqual(0)

    // The test edits a tracked file in alpha's worktree: diff.changed, and the view refetches
    // (the same page: a marker set on it before is still there).
    await page.evaluate('window.reviewNoReload = true')
    writeFileSync(join(aPath, 'src', 'app.ts'), APP_TS.replace('b = 2', 'b = 20').replace('c = 3', 'c = 30'))
    await page.waitForSelector(sel('diff-file', { path: 'src/app.ts' }), { timeout: 10_000 })
    expect(await page.evaluate('window.reviewNoReload')).toBe(true)
    expect(await page.locator('[data-testid="diff-file"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')).sort())).toEqual(['alpha.txt', 'src/app.ts'])
    expect(await page.getAttribute(sel('diff-line', { path: 'src/app.ts', side: 'new', line: 2 }), 'data-kind')).toBe('add')
    expect(await page.getAttribute(sel('diff-line', { path: 'src/app.ts', side: 'old', line: 2 }), 'data-kind')).toBe('del')
    await page.screenshot({ path: resolve(shots, 'review-diff.png') })
  })

  it('a comment on selected lines goes to alpha as a relay message: in the feed, and typed into its terminal', async () => {
    await page.click(sel('diff-line', { path: 'src/app.ts', side: 'new', line: 2 }))
    await page.click(sel('diff-line', { path: 'src/app.ts', side: 'new', line: 3 }), { modifiers: ['Shift'] })
    const box = page.locator('[data-testid="review-comment"]')
    await box.waitFor()
    expect(await box.getAttribute('data-start')).toBe('2')
    expect(await box.getAttribute('data-end')).toBe('3')
    expect(await page.getAttribute(sel('diff-line', { path: 'src/app.ts', side: 'new', line: 3 }), 'aria-pressed')).toBe('true')
    await page.fill('[data-testid="review-comment-input"]', comment)
    await page.screenshot({ path: resolve(shots, 'review-comment.png') })
    await page.click('[data-testid="review-comment-send"]')
    await box.waitFor({ state: 'detached' })

    const item = page.locator('[data-testid="feed-item"]', { hasText: comment })
    await item.waitFor({ timeout: 10_000 })
    expect(await item.locator('.feed-route .to').textContent()).toBe('alpha')
    expect(await item.locator('.feed-text').textContent()).toContain('src/app.ts lines 2-3')
    await poll(() => item.getAttribute('data-state'), 20_000).toMatch(/^(verified|acked)$/)

    // cat prints the comment back in alpha's terminal.
    await page.click('[data-testid="agent-tab-terminal"]')
    await page.waitForSelector('[data-testid="terminal-alpha"] .xterm-rows')
    await poll(async () => (await rows('alpha')).filter((r) => r.includes(comment)).length).toBeGreaterThanOrEqual(1)
    expect((await rows('alpha')).some((r) => r.includes('src/app.ts lines 2-3'))).toBe(true)
    await page.screenshot({ path: resolve(shots, 'review-comment-sent.png') })
  })

  it("stopping: beta's uncommitted work is deleted only after confirming; alpha's worktree is kept", async () => {
    await page.click('[data-testid="agent-stop-beta"]')
    await page.waitForSelector('[data-testid="stop-dialog"]')
    await page.waitForSelector('[data-testid="stop-worktree-status"][data-state="dirty"]', { timeout: 10_000 })
    expect(await page.textContent('[data-testid="stop-worktree-files"]')).toContain('beta.txt')
    expect(await page.isDisabled('[data-testid="stop-worktree-remove-if-clean"]')).toBe(true)
    await page.check('[data-testid="stop-worktree-remove"]')
    expect(await page.isDisabled('[data-testid="stop-confirm"]')).toBe(true)
    await page.screenshot({ path: resolve(shots, 'review-stop-dialog.png') })
    await page.check('[data-testid="stop-worktree-confirm-discard"]')
    await page.click('[data-testid="stop-confirm"]')
    await page.waitForSelector('[data-testid="stop-dialog"]', { state: 'detached', timeout: 15_000 })
    await page.waitForSelector('[data-testid="agent-row-beta"][data-status="exited"]', { timeout: 10_000 })
    await poll(() => existsSync(bPath), 10_000).toBe(false)
    expect(git(repo, 'branch', '--list', 'review/beta-work')).toBe('')

    await page.click('[data-testid="agent-stop-alpha"]')
    await page.waitForSelector('[data-testid="stop-dialog"]')
    await page.waitForSelector('[data-testid="stop-worktree-status"][data-state="dirty"]', { timeout: 10_000 })
    await page.check('[data-testid="stop-worktree-keep"]')
    await page.click('[data-testid="stop-confirm"]')
    await page.waitForSelector('[data-testid="stop-dialog"]', { state: 'detached', timeout: 15_000 })
    await page.waitForSelector('[data-testid="agent-row-alpha"][data-status="exited"]', { timeout: 10_000 })
    expect(readFileSync(join(aPath, 'alpha.txt'), 'utf8')).toBe('from-alpha\n')
    expect(readFileSync(join(aPath, 'src', 'app.ts'), 'utf8')).toContain('c = 30')
    expect(worktrees().get('relay/alpha')).toBe(aPath)
    expect(git(repo, 'status', '--porcelain')).toBe('')
    expect(pageErrors).toEqual([])
  })
})
