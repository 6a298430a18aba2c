/**
 * The real `relay` command (node bin/relay.mjs → the built out/main/relay.js) against a real engine:
 * typed into a bash in a PTY as an agent would, and run as a child process for the
 * error cases, with the exit codes and messages a person sees.
 */
import * as pty from 'node-pty'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT } from '../../electron/agent-tools/errors'
import { relayBinDir, withRelayOnPath } from '../../electron/agent-tools/launch'
import { tempDir, waitFor } from '../support/wait'
import { join } from 'node:path'
import { runCli, USAGE } from '../../electron/agent-tools/cli'
import { channelMessages, closedPort, dmsOf, inboxOf, ROOT, runCommand, runRelay, world, type RunResult, type TestAgent, type World } from './helpers'

/** The same program as bin/relay.mjs, in this process (fast; the engine is in this process too). */
async function inProcess(argv: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<RunResult> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, { env, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), readStdin: async () => stdin })
  return { code, stdout, stderr }
}

let w: World
let A: TestAgent
let B: TestAgent
const terms: pty.IPty[] = []

beforeAll(async () => {
  w = await world()
  A = await w.agent('alpha')
  B = await w.agent('bravo')
})
afterAll(async () => {
  for (const t of terms) t.kill()
  await w?.close()
})

/** bash --norc --noprofile in a PTY with the agent's env and `relay` on PATH (what the broker gives an agent). */
function agentShell(agent: TestAgent) {
  const env = w.envFor(agent)
  env.PATH = withRelayOnPath(env.PATH)
  env.PS1 = '$ '
  const term = pty.spawn('bash', ['--norc', '--noprofile'], { cwd: tempDir('agent-home'), env: env as Record<string, string>, cols: 200, rows: 40 })
  terms.push(term)
  let out = ''
  term.onData((d) => (out += d))
  return { term, output: () => out, type: (line: string) => term.write(`${line}\r`) }
}

const rnd = () => Math.random().toString(36).slice(2, 10)

describe('relay in an agent terminal', () => {
  it('A sends B a DM with `relay send`; B answers with `relay reply`; A sees it in `relay inbox`', async () => {
    const a = agentShell(A)
    const ping = `ping-${rnd()}`
    a.type(`relay send ${B.name} "${ping}"; echo "rc=$?"`)
    const sent = await waitFor(() => /sent to bravo \[(msg_[A-Za-z0-9]+)\][\s\S]*rc=0/.exec(a.output()), 'relay send to finish in the PTY', 20_000)
    const msgId = sent[1] as string

    // B's mailbox has it, unread, from A
    const inbox = await inboxOf(w, B)
    expect(inbox.unread_dms.some((d) => d.from === A.name && d.last_message?.id === msgId && d.last_message.text === ping)).toBe(true)

    // B replies by id (as itself)
    const pong = `pong-${rnd()}`
    const r = await runRelay(['reply', msgId, pong], w.envFor(B))
    expect(r.stderr).toBe('')
    expect(r.code).toBe(EXIT.ok)
    expect(r.stdout).toMatch(new RegExp(`replied .*${msgId}`))

    // A's `relay inbox`, typed in its terminal, shows the reply
    a.type('relay inbox')
    await waitFor(() => a.output().includes(`bravo: ${pong}`), "the reply in A's relay inbox", 20_000)
    // not typed anywhere (A has no node here): still unread
    expect(a.output()).toMatch(new RegExp(`from bravo .*${pong}`))
  })

  it('reads the text from stdin with -, and prints JSON with --json', async () => {
    const text = `line one ${rnd()}\nline two`
    const r = await runRelay(['send', '--json', B.name, '-'], w.envFor(A), `${text}\n`)
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout) as { ok: boolean; data: { id: string; to: string; text: string } }
    expect(out).toMatchObject({ ok: true, data: { to: B.name, text } })
    expect((await dmsOf(w, B)).some((m) => m.id === out.data.id && m.text === text)).toBe(true)

    const read = await inProcess(['read', out.data.id, '--json'], w.envFor(B))
    expect(JSON.parse(read.stdout)).toMatchObject({ ok: true, data: { id: out.data.id, text, agent_name: A.name } })
  })

  it('posts to a channel, and lists agents with `relay who`', async () => {
    const text = `hello channel ${rnd()}`
    const post = await runRelay(['post', '#general', text], w.envFor(A))
    const who = await inProcess(['who'], w.envFor(A))
    expect(post.code).toBe(0)
    expect(post.stdout).toMatch(/^posted to #general \[msg_/)
    expect((await channelMessages(w, 'general')).some((m) => m.text === text)).toBe(true)
    expect(who.code).toBe(0)
    expect(who.stdout).toMatch(/alpha \(you\)/)
    expect(who.stdout).toMatch(/bravo/)
  })

  it('prints the usage with `relay help` (exit 0) and on no arguments (exit 2)', async () => {
    const help = await runRelay(['help'], w.envFor(A))
    expect(help.code).toBe(0)
    expect(help.stdout).toBe(USAGE)
    expect(help.stdout).toContain('relay send <agent> <text…>')
    const none = await inProcess([], w.envFor(A))
    expect(none.code).toBe(EXIT.usage)
    expect(none.stderr).toContain('Usage:')
  })
})

describe('relay refuses bad input clearly, and sends nothing', () => {
  it('no token, wrong token, unknown recipient, engine down, bad usage', async () => {
    const C = await w.agent('charlie') // the intended recipient: must receive nothing
    const marker = `never-${rnd()}`
    const noToken = { ...w.envFor(A), RELAY_AGENT_TOKEN: '' }
    const noUrl = { ...w.envFor(A) }
    delete noUrl.RELAY_BASE_URL
    const badToken = { ...w.envFor(A), RELAY_AGENT_TOKEN: 'at_live_not-a-real-token' }
    const downUrl = `http://127.0.0.1:${await closedPort()}`
    const down = { ...w.envFor(A), RELAY_BASE_URL: downUrl }

    // the real command for each exit code…
    const [rNoToken, rBadToken, rUnknown, rDown, rUsage1] = await Promise.all([
      runRelay(['send', C.name, marker], noToken),
      runRelay(['send', C.name, marker], badToken),
      runRelay(['send', 'nobody-here', marker], w.envFor(A)),
      runRelay(['send', C.name, marker], down),
      runRelay(['send', C.name], w.envFor(A)),
    ])
    // …and the same program in-process for the variations
    const rNoUrl = await inProcess(['send', C.name, marker], noUrl)
    const rUsage2 = await inProcess(['frobnicate'], w.envFor(A))
    const rUsage3 = await inProcess(['send', C.name, '--colour', marker], w.envFor(A))
    const rEmpty = await inProcess(['send', C.name, '-'], w.envFor(A), '\n')
    const rSelfChannel = await inProcess(['send', '#general', marker], w.envFor(A))
    const rNoChannel = await inProcess(['post', '#no-such-channel', marker], w.envFor(A))
    const rJsonErr = await inProcess(['send', 'nobody-here', marker, '--json'], w.envFor(A))
    const rNoMsg = await inProcess(['reply', 'msg_does_not_exist', marker], w.envFor(A))
    const rSpawnNoName = await inProcess(['spawn', 'claude'], w.envFor(A))

    expect(rNoToken.code).toBe(EXIT.auth)
    expect(rNoToken.stderr).toMatch(/RELAY_AGENT_TOKEN is not set/)
    expect(rNoToken.stderr).toMatch(/spawned by Relay Desktop/)

    expect(rNoUrl.code).toBe(EXIT.auth)
    expect(rNoUrl.stderr).toMatch(/RELAY_BASE_URL is not set/)

    expect(rBadToken.code).toBe(EXIT.auth)
    expect(rBadToken.stderr).toMatch(/rejected RELAY_AGENT_TOKEN/)

    expect(rUnknown.code).toBe(EXIT.remote)
    expect(rUnknown.stderr).toMatch(/no agent named "nobody-here"/)

    expect(rDown.code).toBe(EXIT.unreachable)
    expect(rDown.stderr).toContain(downUrl)
    expect(rDown.stderr).toMatch(/cannot reach the Relay engine/)

    for (const r of [rUsage1, rUsage2, rUsage3, rEmpty, rSelfChannel, rSpawnNoName]) {
      expect(r.code).toBe(EXIT.usage)
      expect(r.stderr).toMatch(/relay help/)
    }
    expect(rUsage1.stderr).toMatch(/missing message text/)
    expect(rUsage2.stderr).toMatch(/unknown command "frobnicate"/)
    expect(rUsage3.stderr).toMatch(/unknown option --colour/)
    expect(rEmpty.stderr).toMatch(/stdin was empty/)
    expect(rSelfChannel.stderr).toMatch(/looks like a channel; use `relay post/)
    expect(rSpawnNoName.stderr).toMatch(/needs a name/)

    expect(rNoMsg.code).toBe(EXIT.remote)
    expect(rNoMsg.stderr).toMatch(/no message msg_does_not_exist/)

    expect(rNoChannel.code).toBe(EXIT.remote)
    expect(rNoChannel.stderr).toMatch(/no channel #no-such-channel/)

    expect(rJsonErr.code).toBe(EXIT.remote)
    expect(rJsonErr.stderr).toBe('')
    expect(JSON.parse(rJsonErr.stdout)).toMatchObject({ ok: false, error: { code: 'agent_not_found', kind: 'remote', exit_code: 1 } })

    // nothing half-sent: charlie has no conversation, nobody's mailbox or #general has the marker
    expect(await dmsOf(w, C)).toEqual([])
    expect((await inboxOf(w, C)).unread_dms).toEqual([])
    expect((await dmsOf(w, A)).some((m) => m.text.includes(marker))).toBe(false)
    expect((await channelMessages(w, 'general')).some((m) => m.text.includes(marker))).toBe(false)
  })

  it('works from any working directory through the PATH shim bin/relay', async () => {
    const viaShim = await runCommand('sh', ['-c', 'relay who'], { ...w.envFor(A), PATH: withRelayOnPath(process.env.PATH), RELAY_NODE: process.execPath })
    expect(viaShim.stderr).toBe('')
    expect(viaShim.code).toBe(0)
    expect(viaShim.stdout).toMatch(/alpha \(you\)/)
    expect(relayBinDir()).toBe(join(ROOT, 'bin'))
  })
})
