/**
 * The whole slice in a real browser: `npm run serve` (host + embedded engine + broker),
 * Debian Chromium driven by playwright-core. Spawn a bash agent from the UI, send it
 * `echo hello-<random>` from the compose box, and see bash run it.
 */
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../../scripts/chromium.mjs'
import { startServe, type ServeProcess } from '../support/serve-process'

let serve: ServeProcess
let browser: Browser
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  const executablePath = findChromium()
  if (!executablePath) throw new Error('no Chromium: install it (apt-get install chromium) or set CHROMIUM_PATH')
  serve = await startServe()
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  })
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  page.on('pageerror', (e) => pageErrors.push(e.message))
  await page.goto(serve.url)
})

afterAll(async () => {
  await browser?.close()
  const code = await serve?.stop()
  expect(code).toBe(0)
})

async function rowTexts(name: string): Promise<string[]> {
  return page.$$eval(`[data-testid="terminal-${name}"] .xterm-rows > div`, (rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trim()))
}

describe('walking skeleton in Chromium', () => {
  it('shows the node connected to the embedded engine', async () => {
    await page.waitForSelector('[data-testid="node-status"][data-state="connected"]', { timeout: 30_000 })
    const text = await page.textContent('[data-testid="node-status"]')
    expect(text).toMatch(/node_[0-9a-f]{32}/)
    expect(text).toMatch(/127\.0\.0\.1/)
  })

  it('spawns a bash agent, sends it a command, and the terminal shows bash running it', async () => {
    const marker = `hello-${Math.random().toString(36).slice(2, 10)}`
    await page.click('[data-testid="spawn-open"]')
    await page.fill('[data-testid="spawn-command"]', 'bash')
    await page.fill('[data-testid="spawn-name"]', 'shell1')
    await page.fill('[data-testid="spawn-args"]', '--norc --noprofile')
    await page.click('[data-testid="spawn-submit"]')
    await page.waitForSelector('[data-testid="agent-row-shell1"][data-status="running"]', { timeout: 20_000 })
    await page.waitForSelector('[data-testid="terminal-shell1"] .xterm-rows', { timeout: 20_000 })

    await page.fill('[data-testid="compose-to"]', 'shell1')
    await page.fill('[data-testid="compose-text"]', `echo ${marker}`)
    await page.click('[data-testid="compose-send"]')

    // bash's output line is the marker alone; the typed command line is `… echo <marker>`
    await expect.poll(async () => (await rowTexts('shell1')).includes(marker), { timeout: 20_000, interval: 100 }).toBe(true)
    expect((await rowTexts('shell1')).some((r) => r.endsWith(`echo ${marker}`))).toBe(true)

    const item = page.locator('[data-testid="feed-item"]', { hasText: marker })
    await expect.poll(async () => item.getAttribute('data-state'), { timeout: 20_000, interval: 100 }).toBe('acked')

    mkdirSync(resolve(__dirname, '../../test-results'), { recursive: true })
    await page.screenshot({ path: resolve(__dirname, '../../test-results/walking-skeleton.png'), fullPage: true })
    expect(pageErrors).toEqual([])
  })

  it('typing in the terminal goes to the PTY', async () => {
    await page.click('[data-testid="terminal-shell1"] .xterm')
    await page.keyboard.type('echo typed-$((6*7))')
    await page.keyboard.press('Enter')
    await expect.poll(async () => (await rowTexts('shell1')).includes('typed-42'), { timeout: 10_000, interval: 100 }).toBe(true)
  })
})
