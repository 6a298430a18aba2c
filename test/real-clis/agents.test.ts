/**
 * The product's core loop with the real agent CLIs (pinned in test/real-clis), offline
 * against the scripted model server: spawned through the app's contract, the user sends
 * three messages, each reaches the model once, in order, as a submitted user turn; the
 * model answers through the relay's own `send_dm` MCP tool with no permission prompt;
 * the answer shows in the user's feed. Then agent to agent (Claude Code → Codex → Claude
 * Code). Stopping an agent leaves no process behind. The user's CLI settings (the
 * seeded HOME) are never written by Relay.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isAlive, processTree } from '../../electron/broker/process-tree'
import type { AgentInfo } from '../../shared/ipc'
import { rigAvailability, RIG_CLIS, type RigCli } from '../support/cli-rig'
import type { ModelApi, ModelReply, ModelRequest } from '../support/model-server'
import { waitFor } from '../support/wait'
import { RELAY_LINE, relayTurnsSeen, spawnReady, startAppWithClis, type AppWithClis } from './harness'

const API: Record<RigCli, ModelApi> = { claude: 'anthropic', codex: 'responses', gemini: 'gemini', opencode: 'chat' }

/**
 * The scripted model: a turn whose newest user message is a relay message not answered
 * yet answers it with send_dm to the sender ("pong-N from <agent>" for "ping-N"); any
 * other request (the one after the tool ran, carrying its result) ends the turn with
 * text. Answered messages are tracked by their message id, not by whether the request
 * carries tool results: a CLI may add a message typed during a turn to that turn.
 */
function replyToRelay(agentOf: (req: ModelRequest) => string) {
  const answered = new Set<string>()
  return (req: ModelRequest): ModelReply => {
    const m = RELAY_LINE.exec(req.userText)
    const id = /\[[^\]]*\/ (msg_[^\]\s]+)\]/.exec(req.userText)?.[1] ?? m?.[2] ?? ''
    if (!m || answered.has(id)) return { text: req.toolResults.length ? 'Replied.' : 'OK.' }
    answered.add(id)
    const [, from, body] = m
    const ping = /ping-(\d+)/.exec(body ?? '')
    const text = ping ? `pong-${ping[1]} from ${agentOf(req)}` : `got "${body?.trim()}"`
    return { tool: 'send_dm', args: { to: from, text } }
  }
}

/** What happened to an agent's messages, for a failure message. */
function trace(app: AppWithClis, name: string, api: ModelApi): string {
  const feed = app
    .feed()
    .filter((m) => m.to === name || m.from === name)
    .map((m) => `${m.direction} ${m.from}->${m.to} ${m.state} ${JSON.stringify(m.text.slice(0, 40))} ${JSON.stringify(m.steps?.map((x) => [x.state, x.detail]))}`)
  const reqs = app.model.requests
    .filter((r) => r.api === api)
    .map((r) => `#${r.seq} ${r.kind} tools=${r.toolResults.length} ${JSON.stringify(r.userText.slice(-70))}`)
  const acts = app.agentHistory(name).map((a) => a.activity ?? '-')
  return `\nfeed:\n${feed.join('\n')}\nmodel requests:\n${reqs.join('\n')}\nactivity: ${acts.join(' ')}`
}

const runnable = RIG_CLIS.filter((c) => rigAvailability(c).ok)
const missing = RIG_CLIS.filter((c) => !rigAvailability(c).ok)
if (missing.length) console.warn(`real-CLI tests skipped for ${missing.join(', ')}: ${missing.map((c) => (rigAvailability(c) as { reason: string }).reason).join('; ')}`)

describe.skipIf(runnable.length === 0)('real agent CLIs through the app', () => {
  let app: AppWithClis
  beforeAll(async () => {
    app = await startAppWithClis()
    app.model.setResponder(replyToRelay((req) => `${req.api}-agent`))
  }, 60_000)
  afterAll(async () => {
    await app?.close()
  })

  for (const cli of RIG_CLIS) {
    it.skipIf(!runnable.includes(cli))(`${cli}: three messages reach the model once each, in order; replies come back through send_dm with no prompt; stop leaves nothing behind`, async () => {
      const name = `${cli}-1`
      const api = API[cli]
      const agent = await spawnReady(app, name, cli, cli === 'opencode' ? 90_000 : 60_000)
      const user = app.userName()
      for (const i of [1, 2, 3]) await app.invoke('messages.send', { to: name, text: `ping-${i} for ${cli}` })
      // Each reply reaches the user's feed: the model called send_dm, the relay MCP server sent it.
      for (const i of [1, 2, 3]) {
        await waitFor(
          () => app.feed().find((m) => m.direction === 'in' && m.from === name && m.text.includes(`pong-${i} from`)),
          `${name}'s reply pong-${i} in ${user}'s feed`,
          90_000,
        ).catch((err: Error) => {
          throw new Error(`${err.message}${trace(app, name, api)}`)
        })
      }
      const seen = relayTurnsSeen(app.model.turns(api)).filter((t) => t.body.includes(`for ${cli}`))
      expect(seen.map((t) => t.body)).toEqual([1, 2, 3].map((i) => `ping-${i} for ${cli}`))
      expect(seen.every((t) => t.from === user)).toBe(true)
      // One relay message per submitted user turn: none merged into another's turn.
      const last = app.model.turns(api).at(-1)!
      for (const turn of last.userTurns) expect((turn.match(new RegExp(RELAY_LINE.source, 'g')) ?? []).length).toBeLessThanOrEqual(1)
      // Delivered means acked after a verified submit, never on a timeout.
      const sent = app.feed().filter((m) => m.direction === 'out' && m.to === name)
      expect(sent).toHaveLength(3)
      for (const m of sent) expect(m.state).toBe('acked')
      // Never asked for approval or stuck in a dialog on the way.
      const history = app.agentHistory(name)
      expect(history.filter((a) => a.activity === 'needs_approval' || a.activity === 'dialog').map((a) => a.activityDetail)).toEqual([])
      expect(history.some((a) => a.activity === 'working')).toBe(true)
      expect(app.model.errors).toEqual([])
      // Stop: the whole tree goes (Codex's daemon included).
      const tree = [agent.pid!, ...processTree(agent.pid!)]
      await app.invoke('agents.stop', { name })
      await waitFor(() => tree.every((pid) => !isAlive(pid)), `every process of ${name} gone (${tree.join(', ')})`, 15_000)
      expect(app.homeDigest()).toBe('unchanged')
    }, 240_000)
  }

  it.skipIf(!runnable.includes('claude') || !runnable.includes('codex'))('agent to agent: a Claude Code agent asks a Codex agent, whose answer reaches the Claude agent', async () => {
    app.model.setResponder((req) => {
      if (req.toolResults.length) return { text: 'Done.' }
      const m = RELAY_LINE.exec(req.userText)
      if (!m) return { text: 'OK.' }
      const [, from, body = ''] = m
      if (req.api === 'anthropic' && /^ask codex-b /.test(body)) return { tool: 'send_dm', args: { to: 'codex-b', text: `question: ${body.slice('ask codex-b '.length)}` } }
      if (req.api === 'responses' && body.startsWith('question: ')) return { tool: 'send_dm', args: { to: from, text: `answer: ${body.slice('question: '.length).toUpperCase()}` } }
      return { text: `noted: ${body}` }
    })
    await Promise.all([spawnReady(app, 'claude-a', 'claude'), spawnReady(app, 'codex-b', 'codex')])
    await app.invoke('messages.send', { to: 'claude-a', text: 'ask codex-b what is two plus two' })
    const answer = await app.model.waitFor(
      (r) => r.api === 'anthropic' && r.kind === 'turn' && /Relay message from codex-b \[[^\]]*\]: answer: WHAT IS TWO PLUS TWO/.test(r.userText),
      120_000,
      "codex-b's answer reaching claude-a's model",
    )
    expect(answer).toBeDefined()
    const codexSaw = relayTurnsSeen(app.model.turns('responses')).filter((t) => t.from === 'claude-a')
    expect(codexSaw.map((t) => t.body)).toEqual(['question: what is two plus two'])
    const agents = await app.invoke<AgentInfo[]>('agents.list', {})
    for (const name of ['claude-a', 'codex-b']) {
      const a = agents.find((x) => x.name === name)!
      const tree = [a.pid!, ...processTree(a.pid!)]
      await app.invoke('agents.stop', { name })
      await waitFor(() => tree.every((pid) => !isAlive(pid)), `every process of ${name} gone`, 15_000)
    }
  }, 240_000)
})
