/**
 * `BENCH_ONLY=clis npm run bench`: the real agent CLIs through the app (host + embedded
 * engine + broker + PTY), offline against the scripted model server. Per CLI:
 * - idle: send → the model's request carrying the message, one at a time into an idle agent;
 * - busy: the same while the agent is in a turn the model takes 2 s to answer;
 * - burst: 20 sent at once into one agent: all reach the model, once, in order (and how long).
 * And the upstream agent-relay broker with Claude Code on the same engine and model, for
 * the idle case (where it can run: linux-x64, IS_SANDBOX=1 as root).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { EngineApi } from '../../electron/broker/engine-api'
import { startEngine } from '../../electron/engine'
import { makeCliHome, RIG_BIN_DIR, RIG_CLIS, rigAvailability, type RigCli } from '../support/cli-rig'
import type { ModelApi, ModelReply, ModelRequest, ModelServer } from '../support/model-server'
import { startModelServer } from '../support/model-server'
import { realBrokerAvailability, startRealBroker } from '../support/real-broker'
import { tempDir, waitFor } from '../support/wait'
import { RELAY_LINE, relayTurnsSeen, spawnReady, startAppWithClis, type AppWithClis } from '../real-clis/harness'
import { summarize, type Summary } from './stats'

const API: Record<RigCli, ModelApi> = { claude: 'anthropic', codex: 'responses', gemini: 'gemini', opencode: 'chat' }
const IDLE_N = Number(process.env.BENCH_CLIS_IDLE ?? 7)
const BUSY_N = Number(process.env.BENCH_CLIS_BUSY ?? 3)
const BURST_N = Number(process.env.BENCH_CLIS_BURST ?? 20)

export interface CliBench {
  cli: RigCli
  idle?: Summary
  busy?: Summary
  burst?: { n: number; reachedOnceInOrder: boolean; totalMs: number; perMessage: Summary }
  upstreamIdle?: Summary
  error?: string
}

/** Answers relay messages with plain text (no tool call: the bench measures the way in); `work-` takes 2 s. */
function benchResponder(req: ModelRequest): ModelReply {
  const m = RELAY_LINE.exec(req.userText)
  if (m && /\bwork-\d+/.test(m[2] ?? '')) return { text: 'worked', delayMs: 2000 }
  return { text: 'ok' }
}

function reachedAt(model: ModelServer, api: ModelApi, marker: string, timeoutMs = 60_000): Promise<ModelRequest> {
  return model.waitFor((r) => r.api === api && r.kind === 'turn' && r.userText.includes(marker), timeoutMs, `the model request with ${marker}`)
}

/** Waits for the agent's screen to show its idle prompt again (the last turn finished). */
async function settled(app: AppWithClis, name: string): Promise<void> {
  await waitFor(() => app.agentHistory(name).at(-1)?.activity === 'idle', `${name} idle again`, 60_000)
}

async function benchOne(cli: RigCli, app: AppWithClis, log: (m: string) => void): Promise<CliBench> {
  const api = API[cli]
  const name = `${cli}-bench`
  await spawnReady(app, name, cli, 120_000)
  const tag = Date.now().toString(36)
  const idle: number[] = []
  for (let i = 0; i < IDLE_N; i++) {
    await settled(app, name)
    const marker = `idle-${tag}-${i}`
    const t0 = Date.now()
    await app.invoke('messages.send', { to: name, text: marker })
    idle.push((await reachedAt(app.model, api, marker)).at - t0)
  }
  log(`${cli} idle: ${idle.join(', ')} ms`)
  const busy: number[] = []
  for (let i = 0; i < BUSY_N; i++) {
    await settled(app, name)
    await app.invoke('messages.send', { to: name, text: `work-${i} ${tag}` })
    await reachedAt(app.model, api, `work-${i} ${tag}`)
    const marker = `busy-${tag}-${i}`
    const t0 = Date.now()
    await app.invoke('messages.send', { to: name, text: marker })
    busy.push((await reachedAt(app.model, api, marker)).at - t0)
  }
  log(`${cli} busy (model takes 2 s): ${busy.join(', ')} ms`)
  await settled(app, name)
  const markers = Array.from({ length: BURST_N }, (_, i) => `burst-${tag}-${i}`)
  const t0 = Date.now()
  await Promise.all(markers.map((m) => app.invoke('messages.send', { to: name, text: m })))
  const at: number[] = []
  for (const m of markers) at.push((await reachedAt(app.model, api, m, 180_000)).at - t0)
  await settled(app, name)
  const seen = relayTurnsSeen(app.model.turns(api)).map((t) => t.body).filter((b) => b.startsWith(`burst-${tag}-`))
  const reachedOnceInOrder = JSON.stringify(seen) === JSON.stringify(markers)
  log(`${cli} burst of ${BURST_N}: ${reachedOnceInOrder ? 'all once, in order' : `seen ${JSON.stringify(seen)}`}`)
  await app.invoke('agents.stop', { name })
  return { cli, idle: summarize(idle), busy: summarize(busy), burst: { n: BURST_N, reachedOnceInOrder, totalMs: Math.max(...at), perMessage: summarize(at) } }
}

/** The upstream agent-relay broker spawning Claude Code on our engine, same model server: idle send → request. */
async function upstreamClaude(log: (m: string) => void): Promise<Summary | string> {
  const avail = realBrokerAvailability()
  if (!avail.ok) return avail.reason
  const model = await startModelServer({ responder: benchResponder })
  const engine = await startEngine({ port: 0, dataDir: tempDir('bench-clis-engine') })
  const api = new EngineApi({ baseUrl: engine.url })
  const ws = await api.createWorkspace('bench-clis')
  const sender = await api.ensureAgent(ws.api_key, 'bench-user', 'human')
  const home = tempDir('bench-clis-upstream')
  const cwd = join(home, 'work')
  mkdirSync(cwd, { recursive: true })
  const seeded = makeCliHome('claude', { modelUrl: model.url, cwd, home })
  const rb = await startRealBroker({
    engineUrl: engine.url,
    workspaceKey: ws.api_key,
    home,
    cwd,
    env: { ...seeded.env, IS_SANDBOX: '1', PATH: `${RIG_BIN_DIR}:${process.env.PATH ?? ''}` },
  })
  try {
    await rb.spawn('claude-up', 'claude', [], 60_000)
    const samples: number[] = []
    const tag = Date.now().toString(36)
    for (let i = 0; i < IDLE_N; i++) {
      const marker = `up-${tag}-${i}`
      const t0 = Date.now()
      await api.sendDm(sender.token, { to: 'claude-up', text: marker })
      samples.push((await reachedAt(model, 'anthropic', marker, 60_000)).at - t0)
      // The next one only once this turn has been answered (the model replies at once).
      await new Promise((r) => setTimeout(r, 1500))
    }
    log(`upstream broker + claude idle: ${samples.join(', ')} ms`)
    return summarize(samples)
  } finally {
    await rb.stop().catch(() => undefined)
    await engine.close().catch(() => undefined)
    await model.close()
  }
}

export async function benchClis(log: (m: string) => void): Promise<CliBench[]> {
  const out: CliBench[] = []
  for (const cli of RIG_CLIS) {
    const avail = rigAvailability(cli)
    if (!avail.ok) {
      out.push({ cli, error: avail.reason })
      continue
    }
    const app = await startAppWithClis({ clis: [cli] })
    app.model.setResponder(benchResponder)
    try {
      out.push(await benchOne(cli, app, log))
    } catch (err) {
      out.push({ cli, error: (err as Error).message.slice(0, 400) })
      log(`${cli} failed: ${(err as Error).message}`)
    } finally {
      await app.close()
    }
  }
  const claude = out.find((r) => r.cli === 'claude')
  if (claude && !claude.error) {
    try {
      const up = await upstreamClaude(log)
      if (typeof up === 'string') log(`upstream broker skipped: ${up}`)
      else claude.upstreamIdle = up
    } catch (err) {
      log(`upstream broker + claude failed: ${(err as Error).message}`)
    }
  }
  return out
}
