/**
 * The desktop UI under load (issue 6, "Measured"; issue 13). Two scenarios, each on its own
 * `npm run serve` with Chromium showing one agent's terminal and the feed:
 *
 * 1. Busy: N agents each printing steadily (~20 lines/s each, see PRINTER) and M messages
 *    per second sent by the user to those agents (so the feed gets every step of each).
 * 2. Idle: many agents alive (1000) printing a line every few seconds (IDLE_PRINTER), no
 *    messages.
 *
 * Measured in each:
 * - frame time in Chromium: requestAnimationFrame deltas over the window (p50/p99, max; FPS);
 * - host CPU (% of one core over the window), heap/RSS and event-loop delay of the serve
 *   process (`debug.metrics`, a contract command, read only at the window's edges);
 * - input latency: a keypress in the shown terminal until its echo is in xterm's rows. A
 *   sample that times out counts in the percentiles at the timeout value and is also
 *   reported on its own (`inputTimeouts`);
 * - (busy) the same keypress without the browser: contract write → PTY echo → output event.
 *
 * `benchUi()` returns flat figures for the lead's `npm run bench` (idle figures start with
 * `idle`). Standalone: `tsx test/bench/ui-bench.ts`. Knobs: BENCH_UI_AGENTS (100),
 * BENCH_UI_RATE (200/s), BENCH_UI_SECONDS (10), BENCH_UI_IDLE_AGENTS (1000; 0 skips the idle
 * run), BENCH_UI_IDLE_SECONDS (10), BENCH_UI_SKIP_BUSY=1. Diagnosis only (it perturbs the
 * figures): BENCH_UI_PAGE_PROFILE=DIR writes a Chrome trace of the page over each frame
 * window (open it in Chrome DevTools → Performance, or chrome://tracing).
 */
import { chromium, type Page } from 'playwright-core'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { findChromium } from '../../scripts/chromium.mjs'
import { startServe } from '../support/serve-process'
import { summarize } from './stats'

interface Client {
  call(command: string, request: unknown): Promise<unknown>
  /** Resolves with the time until a terminal.output event of `agent` contains `text`. */
  waitOutput(agent: string, text: string, timeoutMs: number): Promise<number>
  close(): void
}

async function ipcClient(url: string): Promise<Client> {
  const u = new URL(url)
  const ws = new WebSocket(`ws://${u.host}/ipc?token=${u.searchParams.get('token')}`)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  let next = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const watchers = new Set<(agent: string, data: string) => void>()
  const acks = new Map<string, number>()
  type EventFrame = { event?: string; payload?: { name: string; data: string } }
  type Frame = EventFrame & { kind: string; id?: number; outcome?: { ok: boolean; result?: unknown; error?: { message: string } } }
  const onEvent = (e: EventFrame) => {
    if (e.event !== 'terminal.output' || !e.payload) return
    for (const w of watchers) w(e.payload.name, e.payload.data)
    // Ack like the UI does, so flow control never pauses the agent this client watches.
    const n = (acks.get(e.payload.name) ?? 0) + e.payload.data.length
    acks.set(e.payload.name, n >= 5000 ? 0 : n)
    if (n >= 5000) ws.send(JSON.stringify({ id: next++, command: 'terminal.ack', request: { name: e.payload.name, chars: n } }))
  }
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame & { frames?: Frame[] }
    for (const f of frame.kind === 'batch' ? (frame.frames ?? []) : [frame]) onFrame(f)
  })
  function onFrame(frame: Frame): void {
    if (frame.kind === 'event') return onEvent(frame)
    if (frame.kind !== 'result' || frame.id === undefined) return
    const p = pending.get(frame.id)
    pending.delete(frame.id)
    if (frame.outcome?.ok) p?.resolve(frame.outcome.result)
    else p?.reject(new Error(frame.outcome?.error?.message ?? 'failed'))
  }
  return {
    call(command, request) {
      const id = next++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        ws.send(JSON.stringify({ id, command, request }))
      })
    },
    waitOutput(agent, text, timeoutMs) {
      const t0 = performance.now()
      return new Promise((resolve) => {
        const timer = setTimeout(() => done(-1), timeoutMs)
        const w = (name: string, data: string) => {
          if (name === agent && data.includes(text)) done(performance.now() - t0)
        }
        const done = (v: number) => {
          clearTimeout(timer)
          watchers.delete(w)
          resolve(v)
        }
        watchers.add(w)
      })
    },
    close: () => ws.close(),
  }
}

/** A sample that never came counts at this value (and as a timeout). */
const SAMPLE_TIMEOUT_MS = 5000

/** Latency samples; timeouts are in `samples` at SAMPLE_TIMEOUT_MS and counted in `timeouts`. */
interface Samples {
  samples: number[]
  timeouts: number
}

/** The same keypress without the browser: contract write → PTY echo → output event (subscribed first). */
async function hostEchoLatency(client: Client, agent: string, n: number): Promise<Samples> {
  // (A host from before subscriptions sends every agent's output anyway.)
  const subscribed = await client.call('terminal.subscribe', { name: agent }).then(
    () => true,
    () => false,
  )
  const out: Samples = { samples: [], timeouts: 0 }
  for (let i = 0; i < n; i++) {
    const key = MARKERS[i % MARKERS.length]
    const waiting = client.waitOutput(agent, key, SAMPLE_TIMEOUT_MS)
    await client.call('terminal.write', { name: agent, data: key })
    const v = await waiting
    if (v < 0) out.timeouts++
    out.samples.push(v < 0 ? SAMPLE_TIMEOUT_MS : v)
  }
  if (subscribed) await client.call('terminal.unsubscribe', { name: agent })
  return out
}

/**
 * ~20 lines a second per agent. `sleep 0.05` in the loop would fork a process per line:
 * 100 agents make 2000 forks/s, which saturates a small machine by itself (measured: a
 * 2-core VM then takes seconds to answer an HTTP GET) and measures the kernel, not the app.
 * `read -t` waits on the terminal instead (and consumes the messages typed into it).
 */
const PRINTER = process.env.BENCH_UI_CMD ?? 'while :; do echo line $RANDOM; read -t 0.05 _; done'

const MAX_IN_FLIGHT = Number(process.env.BENCH_UI_MAX_IN_FLIGHT ?? 64)

type Metrics = { cpuUserUs: number; cpuSystemUs: number; heapUsed: number; rss: number; uptimeMs: number; loopDelayP50Ms: number; loopDelayP99Ms: number; loopUtilization?: number }

// Page scripts are strings: tsx names functions with a helper (__name) the page lacks.

/** rAF deltas for `ms`, in the page. */
async function frameTimes(page: Page, ms: number, label = 'busy'): Promise<number[]> {
  const dir = process.env.BENCH_UI_PAGE_PROFILE
  if (!dir) return measureFrames(page, ms)
  mkdirSync(dir, { recursive: true })
  const browser = page.context().browser()
  await browser?.startTracing(page, {
    path: join(dir, `page-${label}-${Date.now()}.trace.json`),
    categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'disabled-by-default-v8.cpu_profiler', 'blink', 'cc'],
  })
  const frames = await measureFrames(page, ms)
  await browser?.stopTracing()
  return frames
}

function measureFrames(page: Page, ms: number): Promise<number[]> {
  return page.evaluate(`new Promise((resolve) => {
    const out = []
    let last = performance.now()
    const end = last + ${ms}
    function tick(t) {
      out.push(t - last)
      last = t
      if (t < end) requestAnimationFrame(tick)
      else resolve(out)
    }
    requestAnimationFrame(tick)
  })`) as Promise<number[]>
}

/** Letters the printers never print ("line 12345"), one per sample, so no sample sees another's echo. */
const MARKERS = 'ZQXWKJVYUTSRPOMHGFDCBA'

/**
 * Keydown → the typed character visible in the terminal's rows, `n` times (n ≤ 22). The
 * probe is installed by one evaluate (which returns once the listeners are in place, so the
 * key never goes out before them) and read by the next; inside the timed window the page
 * only runs the keydown listener and a mutation callback that looks at the mutated rows.
 */
async function inputLatency(page: Page, agent: string, n: number): Promise<Samples> {
  await page.click(`[data-testid="terminal-${agent}"] .xterm`)
  const out: Samples = { samples: [], timeouts: 0 }
  for (let i = 0; i < Math.min(n, MARKERS.length); i++) {
    const key = MARKERS[i]
    await page.evaluate(`(() => {
      const rows = document.querySelector('[data-testid="terminal-${agent}"] .xterm-rows')
      const count = () => (rows.textContent.match(/${key}/g) || []).length
      // Counted before the key (outside the window): the echo is a new occurrence.
      const before = count()
      let t0 = 0
      window.__probe = new Promise((resolve) => {
        function onKey(e) { if (e.key === '${key}' && !t0) t0 = performance.now() }
        document.addEventListener('keydown', onKey, true)
        const observer = new MutationObserver((records) => {
          if (!t0) return
          const t = performance.now()
          let hit = false
          for (const r of records) {
            const node = r.target
            if (node && node.textContent && node.textContent.indexOf('${key}') !== -1) { hit = true; break }
          }
          if (hit && (before === 0 || count() > before)) done(t - t0)
        })
        const timer = setTimeout(() => done(-1), ${SAMPLE_TIMEOUT_MS})
        function done(v) {
          observer.disconnect()
          document.removeEventListener('keydown', onKey, true)
          clearTimeout(timer)
          resolve(v)
        }
        observer.observe(rows, { childList: true, subtree: true, characterData: true })
      })
    })()`)
    await page.keyboard.press(`Shift+Key${key}`)
    const v = (await page.evaluate('window.__probe')) as number
    if (v < 0) out.timeouts++
    out.samples.push(v < 0 ? SAMPLE_TIMEOUT_MS : v)
  }
  return out
}

/** Spawns agents `parallel` at a time (1000 one by one would take minutes of set-up). */
async function spawnAll(client: Client, names: string[], command: string, parallel: number): Promise<void> {
  let i = 0
  const worker = async () => {
    while (i < names.length) {
      const name = names[i++] as string
      await client.call('agents.spawn', { name, command: 'bash', args: ['--norc', '--noprofile', '-c', command], cwd: '/tmp' })
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
}

async function waitConnected(client: Client): Promise<void> {
  for (let t = Date.now(); ; ) {
    const s = (await client.call('node.status', {})) as { state: string }
    if (s.state === 'connected') return
    if (Date.now() - t > 30_000) throw new Error('node did not connect')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Frames per second over the frames' own span (not the host's clock: the window's edges may lag). */
const fpsOf = (frames: number[]) => Math.round((frames.length / (frames.reduce((a, b) => a + b, 0) / 1000 || 1)) * 10) / 10
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10
const cpuPercent = (m0: Metrics, m1: Metrics) =>
  Math.round(((m1.cpuUserUs - m0.cpuUserUs + (m1.cpuSystemUs - m0.cpuSystemUs)) / ((m1.uptimeMs - m0.uptimeMs) * 1000)) * 1000) / 10

/** ~one line every 5 s per agent: alive, prompt-like, nearly silent. */
const IDLE_PRINTER = process.env.BENCH_UI_IDLE_CMD ?? 'while :; do read -t 5 _; echo tick $RANDOM; done'

type Browser = Awaited<ReturnType<typeof chromium.launch>>

async function openPage(browser: Browser, url: string, agent: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  await page.goto(url)
  await page.waitForSelector('[data-testid="node-status"][data-state="connected"]', { timeout: 60_000 })
  await page.click(`[data-testid="agent-open-${agent}"]`, { timeout: 60_000 })
  await page.waitForSelector(`[data-testid="terminal-${agent}"] .xterm-rows`)
  return page
}

const say = (m: string) => process.env.BENCH_UI_VERBOSE && process.stderr.write(`[ui-bench ${Date.now()}] ${m}\n`)

async function busyRun(browser: Browser): Promise<Record<string, number>> {
  const agents = Number(process.env.BENCH_UI_AGENTS ?? 100)
  const rate = Number(process.env.BENCH_UI_RATE ?? 200)
  const seconds = Number(process.env.BENCH_UI_SECONDS ?? 10)
  const serve = await startServe()
  const client = await ipcClient(serve.url)
  let sender: ReturnType<typeof setInterval> | undefined
  try {
    await waitConnected(client)
    const names = Array.from({ length: agents }, (_, i) => `a${String(i).padStart(3, '0')}`)
    say(`spawning ${agents} agents`)
    await spawnAll(client, names, PRINTER, 4)
    say('agents running; opening the page')
    const page = await openPage(browser, serve.url, names[0] as string)

    // The user sends `rate` messages a second, round-robin over the agents.
    let sent = 0
    let ok = 0
    let inFlight = 0
    let skipped = 0
    let failed = 0
    const failures = new Map<string, number>()
    const perTick = Math.max(1, Math.round(rate / 20))
    sender = setInterval(() => {
      for (let i = 0; i < (rate > 0 ? perTick : 0); i++) {
        // Offered load, but never more than MAX_IN_FLIGHT waiting: past the node's capacity
        // an open loop only builds a queue that times out (measured: engine timeouts).
        if (inFlight >= MAX_IN_FLIGHT) {
          skipped++
          continue
        }
        const to = names[sent % names.length]
        sent++
        inFlight++
        client
          .call('messages.send', { to, text: `bench message ${sent}` })
          .then(() => ok++)
          .catch((e: Error) => {
            failed++
            failures.set(e.message, (failures.get(e.message) ?? 0) + 1)
          })
          .finally(() => inFlight--)
      }
    }, 50)

    say('measuring frames')
    const m0 = (await client.call('debug.metrics', {})) as Metrics
    const ok0 = ok
    const sent0 = sent
    const skipped0 = skipped
    const frames = await frameTimes(page, seconds * 1000)
    const m1 = (await client.call('debug.metrics', {})) as Metrics
    say('frames measured')
    const okInWindow = ok - ok0
    const offeredInWindow = sent - sent0 + (skipped - skipped0)
    say('measuring input latency')
    const latency = await inputLatency(page, names[0] as string, 20)
    const hostEcho = await hostEchoLatency(client, names[1] ?? (names[0] as string), 20)
    const m2 = (await client.call('debug.metrics', {})) as Metrics
    clearInterval(sender)
    sender = undefined

    if (failures.size) say(`send failures: ${JSON.stringify([...failures].slice(0, 5))}`)
    const f = summarize(frames)
    const l = summarize(latency.samples)
    const h = summarize(hostEcho.samples)
    const windowS = (m1.uptimeMs - m0.uptimeMs) / 1000
    const feedCount = await page.locator('[data-testid="feed-item"]').count()
    await page.close()
    return {
      agents,
      messagesPerSecondTarget: rate,
      messagesPerSecondOffered: Math.round((offeredInWindow / windowS) * 10) / 10,
      messagesSent: sent,
      messagesFailed: failed,
      messagesNotOffered: skipped,
      messagesPerSecondAccepted: Math.round((okInWindow / windowS) * 10) / 10,
      frameP50Ms: f.p50,
      frameP99Ms: f.p99,
      frameMaxMs: Math.round(Math.max(...frames) * 100) / 100,
      frames: f.n,
      fps: fpsOf(frames),
      hostCpuPercent: cpuPercent(m0, m1),
      hostHeapMb: mb(Math.max(m1.heapUsed, m2.heapUsed)),
      hostRssMb: mb(Math.max(m1.rss, m2.rss)),
      hostLoopDelayP50Ms: m1.loopDelayP50Ms,
      hostLoopDelayP99Ms: m1.loopDelayP99Ms,
      hostLoopUtilization: m1.loopUtilization ?? NaN,
      inputLatencyP50Ms: l.p50,
      inputLatencyP99Ms: l.p99,
      inputSamples: l.n,
      inputTimeouts: latency.timeouts,
      hostEchoP50Ms: h.p50,
      hostEchoP99Ms: h.p99,
      hostEchoTimeouts: hostEcho.timeouts,
      feedItemsRendered: feedCount,
    }
  } finally {
    if (sender) clearInterval(sender)
    client.close()
    await serve.stop()
  }
}

async function idleRun(browser: Browser): Promise<Record<string, number>> {
  const agents = Number(process.env.BENCH_UI_IDLE_AGENTS ?? 1000)
  const seconds = Number(process.env.BENCH_UI_IDLE_SECONDS ?? 10)
  const serve = await startServe()
  const client = await ipcClient(serve.url)
  try {
    await waitConnected(client)
    const names = Array.from({ length: agents }, (_, i) => `i${String(i).padStart(4, '0')}`)
    say(`idle: spawning ${agents} agents`)
    const t0 = performance.now()
    await spawnAll(client, names, IDLE_PRINTER, 8)
    const spawnS = (performance.now() - t0) / 1000
    say(`idle: ${agents} agents running after ${spawnS.toFixed(1)} s; opening the page`)
    const page = await openPage(browser, serve.url, names[0] as string)
    const m0 = (await client.call('debug.metrics', {})) as Metrics
    say('idle: measuring frames')
    const frames = await frameTimes(page, seconds * 1000, 'idle')
    const m1 = (await client.call('debug.metrics', {})) as Metrics
    say('idle: measuring input latency')
    const latency = await inputLatency(page, names[0] as string, 20)
    const f = summarize(frames)
    const l = summarize(latency.samples)
    await page.close()
    return {
      idleAgents: agents,
      idleSpawnSeconds: Math.round(spawnS * 10) / 10,
      idleFps: fpsOf(frames),
      idleFrameP50Ms: f.p50,
      idleFrameP99Ms: f.p99,
      idleFrameMaxMs: Math.round(Math.max(...frames) * 100) / 100,
      idleHostCpuPercent: cpuPercent(m0, m1),
      idleHostHeapMb: mb(m1.heapUsed),
      idleHostRssMb: mb(m1.rss),
      idleHostLoopDelayP50Ms: m1.loopDelayP50Ms,
      idleHostLoopDelayP99Ms: m1.loopDelayP99Ms,
      idleHostLoopUtilization: m1.loopUtilization ?? NaN,
      idleInputLatencyP50Ms: l.p50,
      idleInputLatencyP99Ms: l.p99,
      idleInputTimeouts: latency.timeouts,
    }
  } finally {
    client.close()
    await serve.stop()
  }
}

export async function benchUi(): Promise<Record<string, number>> {
  const executablePath = findChromium()
  if (!executablePath) throw new Error('no Chromium: set CHROMIUM_PATH or install chromium')
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
  try {
    const busy = process.env.BENCH_UI_SKIP_BUSY ? {} : await busyRun(browser)
    const idle = Number(process.env.BENCH_UI_IDLE_AGENTS ?? 1000) > 0 ? await idleRun(browser) : {}
    return { ...busy, ...idle }
  } finally {
    await browser.close()
  }
}

if (process.argv[1] && /ui-bench\.ts$/.test(process.argv[1])) {
  benchUi().then(
    (r) => {
      console.log(JSON.stringify(r, null, 2))
      process.exit(0)
    },
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}
