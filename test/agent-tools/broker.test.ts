/**
 * The issue's own test: two `bash` agents on one node (our engine + our broker). A types
 * `relay send bravo "ping-…"`; the broker types it into B's terminal; B answers with
 * `relay reply`; the answer reaches A's terminal, and A's `relay inbox` shows it.
 * The agents' identity is only what the broker put in their environment.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Broker } from '../../electron/broker'
import { tempDir, waitFor } from '../support/wait'
import { cleanEnv, world, type World } from './helpers'

const cleanups: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined)
})

describe('two bash agents on one node talk with `relay`', () => {
  it('A → B with relay send (typed into B), B → A with relay reply, A reads it with relay inbox', async () => {
    const w: World = await world()
    cleanups.push(() => w.close())
    const stateDir = tempDir('agent-tools-node')
    const broker = new Broker({
      baseUrl: w.engine.url,
      workspaceKey: w.key,
      workspaceId: w.workspaceId,
      stateDir,
      nodeName: 'agent-tools-node',
      env: { ...cleanEnv(), RELAY_NODE_TOKEN: '' },
      // no PATH here: the broker itself puts `relay` on every agent's PATH
      agentEnv: { PS1: '$ ' },
      cwd: () => stateDir,
      nodeClient: { initialReconnectDelayMs: 50, maxReconnectDelayMs: 200 },
    })
    cleanups.push(() => broker.stop())
    const output = new Map<string, string>()
    broker.on((e) => {
      if (e.type === 'agent.output') output.set(e.name, (output.get(e.name) ?? '') + e.data)
    })
    const out = (name: string) => output.get(name) ?? ''
    await broker.start()
    await waitFor(() => broker.state.state === 'connected', 'broker connected')
    const cwd = tempDir('agent-tools-cwd')
    await broker.spawn({ name: 'alpha', command: 'bash', args: ['--norc', '--noprofile'], cwd })
    await broker.spawn({ name: 'bravo', command: 'bash', args: ['--norc', '--noprofile'], cwd })

    const rnd = Math.random().toString(36).slice(2, 10)
    const ping = `ping-${rnd}`
    broker.writeUser('alpha', `relay send bravo "${ping}"\r`)
    const sent = await waitFor(() => /sent to bravo \[(msg_[A-Za-z0-9]+)\]/.exec(out('alpha')), "relay send's answer in A's terminal", 20_000)
    const msgId = sent[1] as string

    // B's terminal shows the injected line (a shell gets the body alone, and runs it)
    await waitFor(() => out('bravo').includes(ping), "the ping typed into B's terminal", 20_000)

    const pong = `pong-${rnd}`
    broker.writeUser('bravo', `relay reply ${msgId} "${pong}"\r`)
    await waitFor(() => new RegExp(`replied .*${msgId}`).test(out('bravo')), "relay reply's answer in B's terminal", 20_000)
    await waitFor(() => out('alpha').includes(pong), "the reply typed into A's terminal", 20_000)

    const before = out('alpha').length
    broker.writeUser('alpha', 'relay inbox\r')
    await waitFor(() => out('alpha').slice(before).includes(`bravo: ${pong}`), "the reply in A's relay inbox", 20_000)
    expect(out('alpha').slice(before)).not.toMatch(/relay: /)
  })
})
