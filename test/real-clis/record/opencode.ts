/**
 * Record golden screen captures of the real opencode TUI (test/fixtures/screens/opencode/):
 *
 *   npx tsx test/real-clis/record/opencode.ts
 *
 * Starts the scripted model server, seeds a private home (the relay stand-in MCP server
 * `agent-relay` as a local `mcp` entry, and a `permission` rule that makes its tools ask —
 * opencode does not ask by default), drives opencode through each screen state in a
 * 100x30 PTY and saves `<name>.raw` + `<name>.txt` and captures.json. Every wait is for a
 * screen or a model request, with a bound.
 */
import { join } from 'node:path'
import { makeCliHome, rigAvailability } from '../../support/cli-rig'
import { opencodeConfig } from '../../support/cli-homes/opencode'
import { tempDir } from '../../support/wait'
import type { ScreenView } from '../../../electron/broker/screen'
import { RELAY_FIXTURE, Recorder, gap, has, openSession, relayReminder, runRecorder, scriptedTurns, submit, type Session } from './common'

const rec = new Recorder('opencode', '1.18.33')

/** The prompt is up: the agent/model line under the input. */
const prompt = has(/┃\s+Build\s/)
const working = has(/esc (to )?interrupt/i)
/** The solid text of the input box: the `┃` lines above the agent/model line (`┃  Build · …`, then `╹▀▀▀`). */
function inputOf(v: ScreenView): string | undefined {
  let agent = -1
  for (let i = v.lines.length - 2; i >= 0; i--) {
    if (/^\s*┃\s+\S.* · /.test(v.lines[i]) && /^\s*╹/.test(v.lines[i + 1])) {
      agent = i
      break
    }
  }
  if (agent < 0) return undefined
  const out: string[] = []
  for (let j = agent - 1; j >= 0 && /^\s*┃/.test(v.lines[j]); j--) out.unshift(v.solid[j].replace(/^\s*┃?\s*/, ''))
  return out.join('\n').trim()
}
const emptyInput = (v: ScreenView) => inputOf(v) === ''

function session(extra: Record<string, unknown>): Promise<Session> {
  const cwd = tempDir('opencode-cwd')
  return openSession('opencode', cwd, (model) => {
    const home = makeCliHome('opencode', { modelUrl: model.url, cwd })
    opencodeConfig(home.home, extra)
    return { home, args: home.args }
  })
}

const relay = { 'agent-relay': { type: 'local', command: ['node', RELAY_FIXTURE], environment: { RECORD_FILE: '/dev/null' } } }

async function main(): Promise<void> {
  const avail = rigAvailability('opencode')
  if (!avail.ok) throw new Error(avail.reason)
  rec.clear()

  console.log('session: main')
  {
    const { s, model, done } = await session({ mcp: relay, permission: { 'agent-relay_*': 'ask' } })
    try {
      model.setResponder(scriptedTurns)
      await s.waitForScreen((v) => !prompt(v), 5_000, 'the screen before the prompt')
      await rec.capture(s, 'starting-blank', 'starting', 'nothing drawn yet')
      await s.waitForScreen(prompt, 90_000, 'the prompt')
      await rec.capture(s, 'idle-fresh', 'idle', 'fresh start: logo, empty prompt with placeholder')

      s.write('hello there')
      await s.waitForScreen((v) => inputOf(v) === 'hello there', 10_000, 'the typed line')
      await rec.capture(s, 'typing', 'typing', 'one line typed, not submitted', 'hello there')
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello there'), 30_000)
      await s.waitForScreen((v) => has(/^\s*OK\.\s*$/)(v) && prompt(v) && !working(v), 30_000, 'the answer')
      await rec.capture(s, 'idle-after-turn', 'idle', 'after a completed turn, answer above')

      s.write(`\x1b[200~${relayReminder('msg_1')}\x1b[201~`)
      await s.waitForScreen(has(/\[Pasted|msg_1/), 10_000, 'the pasted text')
      {
        const v = await s.view()
        const placeholder = v.lines.some((l) => /\[Pasted/.test(l))
        await rec.capture(s, 'paste-pending', placeholder ? 'paste_pending' : 'typing', 'bracketed 12-line paste, not submitted', placeholder ? '[Pasted' : 'hello msg_1')
      }
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_1'), 30_000)
      await s.waitForScreen((v) => emptyInput(v) && !working(v), 30_000, 'the paste answered')

      s.write(relayReminder('msg_2'))
      await s.waitForScreen(has(/msg_2|\[Pasted/), 10_000, 'the raw multi-line text')
      {
        const v = await s.view()
        const placeholder = v.lines.some((l) => /\[Pasted/.test(l))
        await rec.capture(s, 'typing-multiline', placeholder ? 'paste_pending' : 'typing', '12 lines written raw (no bracketed paste), not submitted', placeholder ? '[Pasted' : 'hello msg_2')
      }
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_2'), 30_000)
      await s.waitForScreen((v) => emptyInput(v) && !working(v), 30_000, 'the raw text answered')

      await submit(s, 'please go slow', 100)
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('slow'), 30_000)
      await s.waitForScreen(working, 10_000, 'the working indicator')
      await rec.capture(s, 'busy', 'busy', 'model working (responder delay 8 s)')
      s.write('typed while busy')
      await s.waitForScreen((v) => inputOf(v) === 'typed while busy', 10_000, 'text typed while busy')
      await rec.capture(s, 'busy-typed', 'busy', 'busy, with text typed into the prompt')
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('typed while busy'), 40_000)
      await s.waitForScreen((v) => has(/Done, slowly\./)(v) && prompt(v) && !working(v), 40_000, 'the slow answer')

      await submit(s, 'please dm alice', 100)
      await s.waitForScreen(has(/Permission required|Allow once|△/i), 40_000, 'the permission prompt')
      await rec.capture(s, 'permission', 'permission', 'send_dm asks because of permission {"agent-relay_*": "ask"}')
      s.write('\r') // the first choice: allow once
      await model.waitFor((r) => r.toolResults.length > 0, 30_000)
      await s.waitForScreen((v) => has(/Sent the reply\./)(v) && prompt(v) && !working(v), 30_000, 'the answer after the tool ran')
      await rec.capture(s, 'idle-after-tool', 'idle', 'after an approved tool call')

      s.write('\x10') // ctrl+p: the command palette
      await s.waitForScreen(has(/Commands/), 10_000, 'the command palette')
      await rec.capture(s, 'dialog-commands', 'dialog', 'ctrl+p command palette (opencode has no first-run dialog)')
      if (model.errors.length) throw new Error(`model server errors: ${model.errors.join('; ')}`)
    } finally {
      await done()
    }
  }

  rec.write()
}

runRecorder(main)
