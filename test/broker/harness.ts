/**
 * A broker wired to a fake engine, recording every event, with bounded, event-driven
 * waits (no sleeps). `quietCat` is a `cat` whose terminal does not echo: each line it
 * receives appears exactly once in the PTY output (what the program read, not what was
 * typed), so counting markers counts deliveries.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Broker, type BrokerEvent, type BrokerOptions, type DeliveryStep } from '../../electron/broker'
import { tempDir } from '../support/wait'
import type { FakeEngine } from './fake-engine'

export interface Node {
  broker: Broker
  events: BrokerEvent[]
  logs: Array<{ level: string; msg: string }>
  stateDir: string
  output(name: string): string
  /** Everything every process of that name printed (across respawns), from the output events. */
  outputAll(name: string): string
  steps(msgId: string): DeliveryStep[]
  waitEvent<T>(pick: (e: BrokerEvent) => T | undefined | false, what: string, timeoutMs?: number): Promise<T>
  waitOutput(name: string, needle: string | RegExp, timeoutMs?: number): Promise<void>
  waitLog(re: RegExp, timeoutMs?: number): Promise<void>
  waitStep(msgId: string, state: DeliveryStep['state'], timeoutMs?: number): Promise<DeliveryStep>
  connected(timeoutMs?: number): Promise<void>
}

const dirs = new Map<string, string>()

/** A dir with small helper programs; `quietcat` prints READY after turning echo off. */
export function binDir(): string {
  const existing = dirs.get('bin')
  if (existing) return existing
  const dir = tempDir('bin')
  mkdirSync(dir, { recursive: true })
  const script = (name: string, body: string) => {
    const p = join(dir, name)
    writeFileSync(p, `#!/bin/sh\n${body}\n`)
    chmodSync(p, 0o755)
  }
  script('quietcat', 'stty -echo\necho READY\nexec cat')
  // Exits at once (a CLI that crashes on start).
  script('dies', 'exit 3')
  // Draws a prompt only after a while (a slow-booting CLI), then cats without echo.
  script('slowboot', 'stty -echo\nsleep 0.4\nprintf "booted> "\nexec cat')
  dirs.set('bin', dir)
  return dir
}

export function makeNode(engine: FakeEngine, opts: Partial<BrokerOptions> = {}, cleanups?: Array<() => Promise<unknown>>): Node {
  const stateDir = opts.stateDir ?? tempDir('node')
  const events: BrokerEvent[] = []
  const logs: Array<{ level: string; msg: string }> = []
  const outputs = new Map<string, string>()
  const bin = binDir()
  const broker = new Broker({
    baseUrl: engine.url,
    workspaceKey: 'rk_live_test',
    workspaceId: 'ws_test',
    workspaceLabel: 'test',
    stateDir,
    nodeName: 'fake-node',
    cwd: () => stateDir,
    log: (level, msg) => logs.push({ level, msg }),
    nodeClient: { initialReconnectDelayMs: 20, maxReconnectDelayMs: 200, heartbeatIntervalMs: 1000 },
    spawnSettleMs: 150,
    ...opts,
    env: { ...process.env, RELAY_NODE_TOKEN: '', PATH: `${bin}:${process.env.PATH ?? ''}`, ...opts.env },
  })
  const waiters = new Set<() => void>()
  const notify = () => {
    for (const w of [...waiters]) w()
  }
  broker.on((e) => {
    events.push(e)
    if (e.type === 'agent.output') outputs.set(e.name, (outputs.get(e.name) ?? '') + e.data)
    notify()
  })
  const origLog = logs.push.bind(logs)
  logs.push = (...items) => {
    const n = origLog(...items)
    notify()
    return n
  }
  cleanups?.push(() => broker.stop())

  function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
    const now = check()
    if (now) return Promise.resolve(now)
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
      }, timeoutMs)
      const w = () => {
        const v = check()
        if (!v) return
        clearTimeout(timer)
        waiters.delete(w)
        resolve(v)
      }
      waiters.add(w)
    })
  }

  const node: Node = {
    broker,
    events,
    logs,
    stateDir,
    output: (name) => {
      // Output is batched for the UI; the scrollback has it at once.
      try {
        return broker.scrollback(name)
      } catch {
        return outputs.get(name) ?? ''
      }
    },
    outputAll: (name) => {
      try {
        broker.scrollback(name) // flushes the batch into the events
      } catch {
        // not running
      }
      return outputs.get(name) ?? ''
    },
    steps: (msgId) =>
      events.filter((e): e is { type: 'delivery'; step: DeliveryStep } => e.type === 'delivery' && e.step.msgId === msgId).map((e) => e.step),
    waitEvent: (pick, what, timeoutMs) => {
      let seen = 0
      return until(() => {
        for (; seen < events.length; seen++) {
          const v = pick(events[seen] as BrokerEvent)
          if (v) return v
        }
        return undefined
      }, what, timeoutMs)
    },
    waitOutput: async (name, needle, timeoutMs) => {
      const has = () => {
        const out = outputs.get(name) ?? ''
        return typeof needle === 'string' ? out.includes(needle) : needle.test(out)
      }
      await until(() => has(), `${String(needle)} in ${name}'s terminal`, timeoutMs)
    },
    waitLog: async (re, timeoutMs) => {
      await until(() => logs.some((l) => re.test(l.msg)), `a log line matching ${re}`, timeoutMs)
    },
    waitStep: (msgId, state, timeoutMs) =>
      until(() => node.steps(msgId).find((s) => s.state === state), `${msgId} ${state}`, timeoutMs),
    connected: async (timeoutMs) => {
      await until(() => broker.state.state === 'connected', 'broker connected', timeoutMs)
    },
  }
  return node
}

/** Markers like `mk-a-0007` found in text, in order. */
export function markers(text: string, prefix: string): string[] {
  return [...text.matchAll(new RegExp(`${prefix}-\\d+`, 'g'))].map((m) => m[0])
}
