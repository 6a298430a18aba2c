/**
 * Soak: 1,000 numbered messages to 5 agents while the fake engine drops the socket at
 * random (seeded), bounded to ~20 s. Every marker must appear exactly once, in order,
 * in its own agent's terminal, and the engine must end with everything acked.
 *
 * Counting: the agents are `quietcat` (stty -echo; exec cat). With echo off the PTY
 * output holds only what cat read and wrote back, one copy per line it received; with
 * echo on each line would show twice (the terminal's echo of the typing, then cat's
 * copy), and a line typed twice would be indistinguishable from one typed once.
 */
import { afterEach, expect, it } from 'vitest'
import { startFakeEngine } from './fake-engine'
import { makeNode, markers } from './harness'
import { rng } from '../support/rng'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})


const AGENTS = 5
const MESSAGES = 1000
const SEED = Number(process.env.SOAK_SEED ?? 20260626)

it('soak: 1,000 messages to 5 cat agents under random socket drops — each exactly once, in order', async () => {
  const random = rng(SEED)
  const fe = await startFakeEngine()
  cleanups.push(() => fe.close())
  const n = makeNode(
    fe,
    {
      injector: { enterDelayMs: 5 },
      readiness: { plain: { quietMs: 30, maxWaitMs: 5000 } },
      nodeClient: { initialReconnectDelayMs: 10, maxReconnectDelayMs: 100, heartbeatIntervalMs: 1000, random },
    },
    cleanups,
  )
  await n.broker.start()
  await n.connected()
  const names = Array.from({ length: AGENTS }, (_, i) => `soak${i}`)
  for (const name of names) {
    await n.broker.spawn({ name, command: 'quietcat', cwd: '/tmp' })
    await n.waitOutput(name, 'READY')
  }
  const t0 = Date.now()
  let drops = 0
  let dropping = true
  const dropLoop = (async () => {
    while (dropping) {
      // load generation, not synchronisation: the next drop comes 50–350 ms later
      await new Promise((r) => setTimeout(r, 50 + random() * 300))
      if (!dropping) break
      fe.dropSocket()
      drops++
    }
  })()
  const expected = new Map<string, string[]>(names.map((a) => [a, []]))
  for (let i = 0; i < MESSAGES; i++) {
    const agent = names[Math.floor(random() * AGENTS)] as string
    const list = expected.get(agent) as string[]
    const marker = `soak-${agent}-${String(list.length).padStart(4, '0')}`
    list.push(marker)
    fe.post(agent, marker)
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 10))
  }
  const postedAt = Date.now()
  const sentFrames = () => fe.frames.length
  try {
    for (const a of names) await fe.waitAcked(a, (expected.get(a) as string[]).length, 20_000)
  } finally {
    dropping = false
    await dropLoop
  }
  const doneAt = Date.now()
  for (const a of names) {
    await n.waitOutput(a, (expected.get(a) as string[]).at(-1) as string)
    expect(markers(n.output(a), `soak-${a}`), `markers in ${a}`).toEqual(expected.get(a))
    // and none of another agent's
    expect(n.output(a)).not.toMatch(new RegExp(`soak-(?!${a}-)soak\\d+-`))
  }
  const received = n.events.filter((e) => e.type === 'delivery' && e.step.state === 'received').length
  const figures = {
    seed: SEED,
    messages: MESSAGES,
    agents: AGENTS,
    perAgent: names.map((a) => (expected.get(a) as string[]).length),
    socketDrops: drops,
    connections: fe.connections,
    postingMs: postedAt - t0,
    allAckedMs: doneAt - t0,
    framesFromBroker: sentFrames(),
    acks: fe.framesOf('delivery.ack').length,
    deliverFramesSent: fe.deliversSent,
    resentByEngine: fe.deliversSent - MESSAGES,
    acceptedForTyping: received,
  }
  console.log(`SOAK ${JSON.stringify(figures)}`)
  expect(drops).toBeGreaterThan(5)
}, 40_000)
