/**
 * The desktop user flows in Chromium against `npm run serve`: spawn from the dialog (and its
 * errors), a terminal that survives a reload, find in the terminal, a message's trace,
 * compose to a channel, a notification toast, stopping an agent, and settings + agents +
 * feed history surviving a restart of serve. Screenshots of the main views go to test-results/.
 */
import { mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../../scripts/chromium.mjs'
import { startServe, type ServeProcess } from '../support/serve-process'

let serve: ServeProcess
let browser: Browser
let page: Page
const pageErrors: string[] = []
const shots = resolve(__dirname, '../../test-results')
const marker = Math.random().toString(36).slice(2, 8)

async function openPage(url: string): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  p.on('pageerror', (e) => pageErrors.push(e.message))
  await p.goto(url)
  await p.waitForSelector('[data-testid="node-status"][data-state="connected"]', { timeout: 30_000 })
  return p
}

beforeAll(async () => {
  const executablePath = findChromium()
  if (!executablePath) throw new Error('no Chromium: install it (apt-get install chromium) or set CHROMIUM_PATH')
  mkdirSync(shots, { recursive: true })
  serve = await startServe()
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  })
  page = await openPage(serve.url)
})

afterAll(async () => {
  await browser?.close()
  await serve?.stop()
})

async function rows(p: Page, name: string): Promise<string[]> {
  return p.$$eval(`[data-testid="terminal-${name}"] .xterm-rows > div`, (els) => els.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trim()))
}
const poll = (fn: () => Promise<unknown>, timeout = 15_000) => expect.poll(fn, { timeout, interval: 100 })

/** The spawn dialog has asked the host about the folder (the worktree line below it settles). */
async function folderChecked(p: Page) {
  await p.waitForSelector('[data-testid="spawn-worktree"][aria-busy="false"]')
}

async function spawnFromDialog(p: Page, fields: { command: string; name: string; args?: string; cwd?: string; channels?: string; restart?: boolean }) {
  await p.click('[data-testid="spawn-open"]')
  await p.waitForSelector('[data-testid="spawn-dialog"]')
  await p.fill('[data-testid="spawn-command"]', fields.command)
  await p.fill('[data-testid="spawn-name"]', fields.name)
  if (fields.args) await p.fill('[data-testid="spawn-args"]', fields.args)
  if (fields.cwd) {
    await p.fill('[data-testid="spawn-cwd"]', fields.cwd)
    await folderChecked(p)
  }
  if (fields.channels) await p.fill('[data-testid="spawn-channels"]', fields.channels)
  if (fields.restart === false) await p.uncheck('[data-testid="spawn-restart"]')
}

async function send(p: Page, to: string, text: string) {
  await p.fill('[data-testid="compose-to"]', to)
  await p.fill('[data-testid="compose-text"]', text)
  await p.click('[data-testid="compose-send"]')
}

describe('desktop flows in Chromium', () => {
  it('spawn dialog: errors on the right field for bad input, then spawns and opens the terminal', async () => {
    await spawnFromDialog(page, { command: 'no-such-cli-xyz', name: 'sh1' })
    await page.click('[data-testid="spawn-submit"]')
    expect(await page.textContent('[data-testid="spawn-error-command"]')).toBe('command not found: no-such-cli-xyz')

    await page.fill('[data-testid="spawn-command"]', 'bash')
    await page.fill('[data-testid="spawn-name"]', 'sh1')
    await page.fill('[data-testid="spawn-cwd"]', '/no/such/folder')
    await folderChecked(page)
    await page.click('[data-testid="spawn-submit"]')
    expect(await page.textContent('[data-testid="spawn-error-cwd"]')).toBe('working directory does not exist: /no/such/folder')

    await page.fill('[data-testid="spawn-name"]', '-bad name')
    await page.click('[data-testid="spawn-submit"]')
    expect(await page.textContent('[data-testid="spawn-error-name"]')).toMatch(/must start with a letter or digit/)
    await page.screenshot({ path: resolve(shots, 'spawn-dialog-error.png') })

    await page.fill('[data-testid="spawn-name"]', 'sh1')
    await page.fill('[data-testid="spawn-cwd"]', '/tmp')
    await page.fill('[data-testid="spawn-args"]', '--norc --noprofile')
    await page.fill('[data-testid="spawn-channels"]', '#team')
    await folderChecked(page)
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="spawn-dialog"]', { state: 'detached' })
    await page.waitForSelector('[data-testid="agent-row-sh1"][data-status="running"]', { timeout: 20_000 })
    await page.waitForSelector('[data-testid="terminal-sh1"] .xterm-rows')

    // Same name again: the host says it is taken, on the name field.
    await spawnFromDialog(page, { command: 'bash', name: 'sh1' })
    await page.click('[data-testid="spawn-submit"]')
    expect(await page.textContent('[data-testid="spawn-error-name"]')).toBe('an agent named "sh1" is already running')
    await page.keyboard.press('Escape')
    await page.waitForSelector('[data-testid="spawn-dialog"]', { state: 'detached' })
  })

  it('a DM shows its trace; a channel message reaches the agent that joined it', async () => {
    await send(page, 'sh1', `echo dm-${marker}`)
    await poll(async () => (await rows(page, 'sh1')).includes(`dm-${marker}`)).toBe(true)
    const dm = page.locator('[data-testid="feed-item"]', { hasText: `dm-${marker}` })
    await poll(() => dm.getAttribute('data-state')).toBe('acked')
    await dm.locator('.feed-head').click()
    const steps = await dm.locator('[data-step-state]').evaluateAll((els) => els.map((e) => e.getAttribute('data-step-state')))
    expect(steps).toEqual(expect.arrayContaining(['sending', 'sent', 'received', 'typed', 'verified', 'acked']))

    await send(page, '#team', `echo team-${marker}`)
    await poll(async () => (await rows(page, 'sh1')).includes(`team-${marker}`)).toBe(true)
    const ch = page.locator('[data-testid="feed-item"]', { hasText: `team-${marker}` })
    expect(await ch.getAttribute('data-channel')).toBe('#team')
    await page.selectOption('[data-testid="feed-filter-channel"]', '#team')
    await poll(() => page.locator('[data-testid="feed-item"]').count()).toBe(1)
    await page.selectOption('[data-testid="feed-filter-channel"]', '')

    // Another agent of the workspace writes to the human user: it shows in the feed, marked for you.
    const engine = ((await page.textContent('[data-testid="node-status"]')) ?? '').match(/http:\/\/127\.0\.0\.1:\d+/)?.[0]
    const key = JSON.parse(readFileSync(resolve(serve.dataDir, 'secrets', 'embedded-workspace.json'), 'utf8')).workspaceKey as string
    const bot = (await (await fetch(`${engine}/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'reviewer-bot' }) })).json()) as { data: { token: string } }
    const user = ((await page.textContent('.compose-row .muted')) ?? '').replace(/^as /, '')
    const posted = await fetch(`${engine}/v1/dm`, { method: 'POST', headers: { authorization: `Bearer ${bot.data.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ to: user, text: `review done ${marker}` }) })
    expect(posted.status).toBe(201)
    const toYou = page.locator('[data-testid="feed-item"].to-user', { hasText: `review done ${marker}` })
    await toYou.waitFor({ timeout: 10_000 })
    expect(await toYou.textContent()).toContain(`${user} (you)`)
    await dm.locator('.feed-head').click() // the filter round trip closed it: show the timeline again
    await dm.locator('[data-testid="feed-timeline"]').waitFor()
    await page.screenshot({ path: resolve(shots, 'main-feed-trace.png') })
  })

  it('the terminal survives a reload, and find selects matches in its scrollback', async () => {
    await page.click('[data-testid="terminal-sh1"] .xterm')
    for (let i = 0; i < 3; i++) {
      await page.keyboard.type(`echo keep-${marker}-$((${i}+1))`)
      await page.keyboard.press('Enter')
    }
    await poll(async () => (await rows(page, 'sh1')).includes(`keep-${marker}-3`)).toBe(true)
    await page.reload()
    await page.waitForSelector('[data-testid="node-status"][data-state="connected"]')
    await page.click('[data-testid="agent-open-sh1"]')
    await poll(async () => (await rows(page, 'sh1')).filter((r) => r === `keep-${marker}-1` || r === `keep-${marker}-3`).length).toBe(2)
    // Nothing doubled by the snapshot + live output handover.
    expect((await rows(page, 'sh1')).filter((r) => r === `keep-${marker}-2`)).toHaveLength(1)

    await page.fill('[data-testid="terminal-search"]', `keep-${marker}`)
    await poll(() => page.textContent('[data-testid="terminal-search-count"]')).toMatch(/^\d+\/\d+$/)
    const [index, total] = ((await page.textContent('[data-testid="terminal-search-count"]')) ?? '').split('/').map(Number)
    expect(total).toBe(6) // 3 typed commands + 3 outputs, none doubled by the reload
    expect(index).toBe(total) // a new search starts at the newest match
    await page.press('[data-testid="terminal-search"]', 'Enter')
    expect(await page.textContent('[data-testid="terminal-search-count"]')).toBe(`${total - 1}/${total}`)
    await page.screenshot({ path: resolve(shots, 'terminal-find.png') })
    await page.fill('[data-testid="terminal-search"]', 'no-such-text-anywhere')
    expect(await page.textContent('[data-testid="terminal-search-count"]')).toBe('no match')
    await page.fill('[data-testid="terminal-search"]', '')
  })

  it('an agent that crashes while you look elsewhere raises a toast; Stop stops an agent', async () => {
    await spawnFromDialog(page, { command: 'sh', name: 'crasher', args: `-c 'read x; exit 4'`, cwd: '/tmp', restart: false })
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="agent-row-crasher"][data-status="running"]', { timeout: 20_000 })
    await page.click('[data-testid="agent-open-sh1"]') // looking at sh1, not crasher
    await send(page, 'crasher', 'go')
    const toast = page.locator('[data-testid="toast"][data-agent="crasher"]')
    await toast.waitFor({ timeout: 15_000 })
    expect(await toast.textContent()).toMatch(/crasher crashed.*exit code 4/)
    await page.screenshot({ path: resolve(shots, 'toast-crash.png') })
    await toast.locator('.toast-body').click()
    await poll(() => page.getAttribute('[data-testid="terminal-tab-crasher"]', 'aria-selected')).toBe('true')

    await spawnFromDialog(page, { command: 'sleep', name: 'sleeper', args: '300', cwd: '/tmp', restart: false })
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="agent-row-sleeper"][data-status="running"]', { timeout: 20_000 })
    await page.click('[data-testid="agent-stop-sleeper"]')
    await page.waitForSelector('[data-testid="agent-row-sleeper"][data-status="exited"]', { timeout: 10_000 })
    await page.click('[data-testid="agent-remove-sleeper"]')
    await page.waitForSelector('[data-testid="agent-row-sleeper"]', { state: 'detached' })
  })

  it('settings, agents and the feed history survive a restart of serve', async () => {
    await page.click('[data-testid="settings-open"]')
    await page.waitForSelector('[data-testid="settings-dialog"]')
    await page.fill('[data-testid="settings-node-name"]', 'renamed-node')
    await page.uncheck('[data-testid="settings-notify-agentIdle"]')
    await page.uncheck('[data-testid="settings-close-to-tray"]')
    expect(await page.isDisabled('[data-testid="settings-start-at-login"]')).toBe(true) // headless: desktop app only
    await page.click('[data-testid="settings-save"]')
    await page.waitForSelector('[data-testid="settings-restart-required"]')
    await page.screenshot({ path: resolve(shots, 'settings.png') })
    await page.keyboard.press('Escape')

    const dataDir = serve.dataDir
    expect(await serve.stop()).toBe(0)
    await page.close()
    serve = await startServe(['--data-dir', dataDir])
    page = await openPage(serve.url)
    // sh1 was marked to restart: it is running again; crasher was not: remembered, stopped.
    await page.waitForSelector('[data-testid="agent-row-sh1"][data-status="running"]', { timeout: 20_000 })
    expect(await page.getAttribute('[data-testid="agent-row-crasher"]', 'data-status')).toBe('exited')
    expect(await page.textContent('[data-testid="node-status"]')).toContain('renamed-node')
    await poll(() => page.locator('[data-testid="feed-item"]', { hasText: `dm-${marker}` }).getAttribute('data-state')).toBe('acked')
    await page.click('[data-testid="settings-open"]')
    expect(await page.inputValue('[data-testid="settings-node-name"]')).toBe('renamed-node')
    expect(await page.isChecked('[data-testid="settings-notify-agentIdle"]')).toBe(false)
    expect(await page.isChecked('[data-testid="settings-close-to-tray"]')).toBe(false)
    await page.keyboard.press('Escape')
    await page.click('[data-testid="agent-open-sh1"]')
    await page.waitForSelector('[data-testid="terminal-sh1"] .xterm-rows')
    await page.screenshot({ path: resolve(shots, 'after-restart.png') })
    expect(pageErrors).toEqual([])
  })
})
