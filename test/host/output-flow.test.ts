/**
 * The PTY output path end to end: real host, real engine, real PTYs. A viewer that stops
 * acking pauses the agent's PTY and acking resumes it; an unsubscribed terminal's bytes are
 * not sent but replayed on subscribe; output events are capped in size.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createHost, type Host } from '../../electron/host'
import { AgentRuntime, OUTPUT_BATCH_MAX } from '../../electron/broker/agent-runtime'
import type { EventBatch, HostConnection } from '../../electron/host/connection'
import { OUTPUT_HIGH_WATERMARK } from '../../shared/ipc'
import { tempDir, waitFor } from '../support/wait'

const hosts: Host[] = []
const runtimes: AgentRuntime[] = []
afterEach(async () => {
  for (const h of hosts.splice(0)) await h.stop()
  for (const r of runtimes.splice(0)) await r.stop()
})

async function startedHost() {
  const dataDir = tempDir('flow')
  const logs: string[] = []
  const logWaiters = new Set<() => void>()
  const host = createHost({
    dataDir,
    nodeName: 'flow-test',
    log: (_level, msg) => {
      logs.push(msg)
      for (const w of [...logWaiters]) w()
    },
    broker: { cwd: () => dataDir, env: { ...process.env, RELAY_NODE_TOKEN: '' } },
  })
  hosts.push(host)
  await host.start()
  await waitFor(() => host.status().state === 'connected', 'node connected')
  /** Resolves when a log line matches (event-driven; bounded). */
  const logged = (re: RegExp, what: string, ms = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = logs.find((l) => re.test(l))
        if (!line) return
        clearTimeout(timer)
        logWaiters.delete(check)
        resolve(line)
      }
      const timer = setTimeout(() => {
        logWaiters.delete(check)
        reject(new Error(`timed out waiting for ${what}`))
      }, ms)
      logWaiters.add(check)
      check()
    })
  return { host, logs, logged }
}

/** A connection the way a transport makes one: host events pushed in, batches recorded. */
function viewer(host: Host) {
  const received: string[] = []
  let onBatch: (batch: EventBatch) => void = () => undefined
  const conn: HostConnection = host.connect((batch) => {
    for (const e of batch) if (e.event === 'terminal.output') received.push((e.payload as { data: string }).data)
    onBatch(batch)
  })
  const off = host.onEvent((event, payload) => conn.push(event, payload))
  hostsCleanup.push(() => {
    off()
    conn.close()
  })
  return {
    conn,
    received,
    text: () => received.join(''),
    setOnBatch: (f: (batch: EventBatch) => void) => (onBatch = f),
  }
}
const hostsCleanup: Array<() => void> = []
afterEach(() => {
  for (const c of hostsCleanup.splice(0)) c()
})

const ok = async <T>(p: Promise<{ ok: boolean; result?: unknown; error?: { message: string } }>): Promise<T> => {
  const o = await p
  if (!o.ok) throw new Error(o.error?.message)
  return o.result as T
}

describe('output flow control (real PTY, real host)', () => {
  it('pauses the PTY of an agent whose viewer stops acking, and resumes it once the viewer catches up', async () => {
    const { host, logged } = await startedHost()
    // ~2.4 MB, then a marker: far more than the high watermark plus every buffer on the way.
    const lines = 40_000
    await ok(
      host.invoke('agents.spawn', {
        name: 'flood',
        command: 'bash',
        args: ['--norc', '--noprofile', '-c', `for ((i=0; i<${lines}; i++)); do echo "line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done; echo ALL-DONE; exec cat`],
        cwd: '/tmp',
      }),
    )
    const v = viewer(host)
    await ok(v.conn.invoke('terminal.subscribe', { name: 'flood' }))
    // The viewer never acks: the host pauses the PTY.
    await logged(/flood: a viewer is behind; output paused/, 'the pause')
    const atPause = v.text().length
    expect(atPause).toBeGreaterThan(OUTPUT_HIGH_WATERMARK)
    expect(v.text()).not.toContain('ALL-DONE')

    // The viewer catches up, and from now on acks whatever it gets.
    const ack = (chars: number) => void v.conn.invoke('terminal.ack', { name: 'flood', chars })
    v.setOnBatch((batch) => {
      for (const e of batch) if (e.event === 'terminal.output') ack((e.payload as { data: string }).data.length)
    })
    ack(v.text().length)
    await logged(/flood: its viewers caught up; output resumed/, 'the resume')
    await waitFor(() => v.text().includes('ALL-DONE'), 'all the output, after the resume', 30_000)
    // Nothing was lost or repeated on the way.
    const got = v.text().match(/line-\d+-/g) ?? []
    const scrollback = (await ok<{ data: string }>(host.invoke('terminal.snapshot', { name: 'flood' }))).data
    expect(scrollback).toContain('ALL-DONE')
    expect(new Set(got).size).toBe(got.length)
    expect(got.at(-1)).toBe(`line-${lines - 1}-`)
  }, 60_000)

  it('sends nothing of an unsubscribed terminal, and replays it on subscribe', async () => {
    const { host } = await startedHost()
    await ok(host.invoke('agents.spawn', { name: 'quiet', command: 'cat', cwd: '/tmp' }))
    const v = viewer(host)
    const hostOutput: string[] = []
    host.onEvent((event, payload) => event === 'terminal.output' && hostOutput.push((payload as { data: string }).data))
    await ok(host.invoke('terminal.write', { name: 'quiet', data: 'before-subscribe\r' }))
    await waitFor(() => hostOutput.join('').includes('before-subscribe'), 'the echo, as a host event')
    v.conn.flush()
    expect(v.received).toEqual([])

    const { data } = await ok<{ data: string }>(v.conn.invoke('terminal.subscribe', { name: 'quiet' }))
    expect(data).toContain('before-subscribe')
    await ok(host.invoke('terminal.write', { name: 'quiet', data: 'after-subscribe\r' }))
    await waitFor(() => v.text().includes('after-subscribe'), 'live output after subscribing')
    // Exactly the bytes after the scrollback: nothing from before is sent twice.
    expect(v.text()).not.toContain('before-subscribe')
  })
})

describe('output batches (real PTY)', () => {
  it('caps each output event at OUTPUT_BATCH_MAX (plus one PTY read), every byte once and in order', async () => {
    const events: string[] = []
    const size = 3_000_000
    // Stays alive after printing (a PTY's last bytes can be lost when its program exits first).
    const rt = new AgentRuntime(
      { name: 'big', command: 'bash', args: ['--norc', '--noprofile', '-c', `head -c ${size} /dev/zero | tr '\\0' x; echo; echo END; exec cat`], cwd: '/tmp', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color' } },
      { onOutput: (d) => events.push(d) },
    )
    runtimes.push(rt)
    await waitFor(() => /END\r\n$/.test(events.join('')), 'all the output', 30_000)
    const all = events.join('')
    expect(all.replace(/[^x]/g, '').length).toBe(size)
    // A PTY read is at most 64 KiB; a batch is flushed as soon as it reaches the cap.
    expect(Math.max(...events.map((e) => e.length))).toBeLessThanOrEqual(OUTPUT_BATCH_MAX + 64 * 1024)
    expect(events.length).toBeGreaterThanOrEqual(Math.floor(size / (OUTPUT_BATCH_MAX + 64 * 1024)))
  })
})
