/**
 * Record golden screen captures of the real Gemini CLI (test/fixtures/screens/gemini/):
 *
 *   npx tsx test/real-clis/record/gemini.ts
 *
 * Starts the scripted model server, seeds a private home (the relay stand-in MCP server
 * `agent-relay` comes from a system-defaults file, as in the app), drives Gemini through
 * each screen state in a 100x30 PTY and saves `<name>.raw` + `<name>.txt` and captures.json.
 * Every wait is for a screen or a model request, with a bound.
 */
import { join } from 'node:path'
import { makeCliHome, rigAvailability } from '../../support/cli-rig'
import { geminiSystemDefaults, privateGeminiHome } from '../../support/cli-homes/gemini'
import { tempDir } from '../../support/wait'
import type { ScreenView } from '../../../electron/broker/screen'
import { RELAY_FIXTURE, Recorder, gap, has, openSession, relayReminder, runRecorder, scriptedTurns, submit, type Session } from './common'

const rec = new Recorder('gemini', '0.61.0')

// Gemini takes an Enter within 30 ms of a key, or 40 ms of a paste, as a newline: hence the gap(150)s.
const header = has(/Gemini CLI v\d/)
const box = has(/^ > /)
const placeholder = has(/Type your message or @path/)
const settledIdle = (v: ScreenView) => placeholder(v) && !has(/esc to cancel/)(v)

function session(opts: { withDialogs?: boolean; mcp?: Record<string, unknown> }): Promise<Session> {
  const cwd = tempDir('gemini-cwd')
  return openSession('gemini', cwd, (model) => {
    const home = makeCliHome('gemini', { modelUrl: model.url, cwd, home: privateGeminiHome(), withDialogs: opts.withDialogs })
    return { home, args: home.args, env: opts.mcp ? geminiSystemDefaults(home.home, { 'agent-relay': opts.mcp }) : {} }
  })
}

const relayServer = (extra: Record<string, unknown> = {}) => ({ command: 'node', args: [RELAY_FIXTURE], env: { RECORD_FILE: '/dev/null' }, ...extra })

async function main(): Promise<void> {
  const avail = rigAvailability('gemini')
  if (!avail.ok) throw new Error(avail.reason)
  rec.clear()

  // 1. The usual start with the relay MCP server (not trusted), then every state.
  console.log('session: main')
  {
    const { s, model, done } = await session({ mcp: relayServer() })
    try {
      model.setResponder(scriptedTurns)
      // The input box is drawn ~0.5-1 s before the config is initialized (no header yet);
      // an Enter in that window is dropped (the text stays), keys before the box are lost.
      await s.waitForScreen((v) => box(v) && !header(v), 60_000, 'the input box before the header')
      await rec.capture(s, 'starting-box', 'starting', 'input box drawn, config not initialized (no header): Enter is dropped here')
      await s.waitForScreen((v) => header(v) && placeholder(v), 30_000, 'the header and an empty prompt')
      await rec.capture(s, 'idle-fresh', 'idle', 'fresh start, empty prompt with placeholder')

      s.write('hello there')
      await s.waitForScreen(has(/^ > hello there/), 10_000, 'the typed line')
      await rec.capture(s, 'typing', 'typing', 'one line typed, not submitted', 'hello there')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello there'), 15_000)
      await s.waitForScreen((v) => has(/✦ OK\./)(v) && placeholder(v), 15_000, 'the answer and an empty prompt')
      await rec.capture(s, 'idle-after-turn', 'idle', 'after a completed turn, answer above')

      // Bracketed paste of a multi-line message: a placeholder until Enter.
      s.write(`\x1b[200~${relayReminder('msg_1')}\x1b[201~`)
      await s.waitForScreen(has(/^ > \[Pasted Text: 12 lines\]/), 10_000, 'the paste placeholder')
      await rec.capture(s, 'paste-pending', 'paste_pending', 'bracketed 12-line paste, not submitted', '[Pasted Text: 12 lines]')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_1'), 15_000)
      await s.waitForScreen(settledIdle, 15_000, 'the second answer')

      // The same text written raw (no bracketed paste): shown line by line in the box.
      s.write(relayReminder('msg_2'))
      await s.waitForScreen(has(/Relay message from alice \[ws \/ msg_2\]/), 10_000, 'the raw multi-line text')
      await rec.capture(s, 'typing-multiline', 'typing', '12 lines written raw (no bracketed paste), not submitted', 'hello msg_2')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_2'), 15_000)
      await s.waitForScreen(settledIdle, 15_000, 'the third answer')

      await submit(s, 'please go slow', 150)
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('slow'), 15_000)
      await s.waitForScreen(has(/esc to cancel/), 10_000, 'the spinner')
      await rec.capture(s, 'busy', 'busy', 'model working (responder delay 8 s)')
      s.write('typed while busy')
      await s.waitForScreen(has(/^ > typed while busy/), 10_000, 'text typed while busy')
      await rec.capture(s, 'busy-typed', 'busy', 'busy, with text typed into the prompt')
      await gap(150)
      s.write('\r') // queued: sent after the turn
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('typed while busy'), 20_000)
      await s.waitForScreen((v) => has(/Done, slowly\./)(v) && placeholder(v) && !has(/esc to cancel/)(v), 20_000, 'the slow answer')

      await submit(s, 'please dm alice', 150)
      await s.waitForScreen(has(/Action Required|Allow execution/), 20_000, 'the tool approval prompt')
      await rec.capture(s, 'permission', 'permission', 'send_dm on the untrusted agent-relay server asks')
      s.write('1') // allow once
      await model.waitFor((r) => r.toolResults.length > 0, 20_000)
      await s.waitForScreen((v) => has(/Sent the reply\./)(v) && placeholder(v), 20_000, 'the answer after the tool ran')
      await rec.capture(s, 'idle-after-tool', 'idle', 'after an approved tool call')
      if (model.errors.length) throw new Error(`model server errors: ${model.errors.join('; ')}`)
    } finally {
      await done()
    }
  }

  // 2. A slow MCP server (starts after 4 s): the header shows, prompts submitted now are queued.
  console.log('session: slow MCP')
  {
    const { s, model, done } = await session({ mcp: relayServer({ command: 'sh', args: ['-c', `sleep 4; exec node '${RELAY_FIXTURE}'`] }) })
    try {
      await s.waitForScreen((v) => header(v) && placeholder(v), 60_000, 'the header')
      await rec.capture(s, 'idle-mcp-connecting', 'idle', 'MCP server still connecting; nothing on screen says so, a prompt submitted now is queued')
      await submit(s, 'queued early', 150)
      await s.waitForScreen(has(/Queued \(press/), 10_000, 'the queued prompt')
      await rec.capture(s, 'starting-queued', 'starting', '"Waiting for MCP servers to initialize", prompt queued until the MCP server is up')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('queued early'), 30_000)
    } finally {
      await done()
    }
  }

  // 3. First-run dialogs: no auth type selected, folder trust on.
  console.log('session: dialogs')
  {
    const { s, done } = await session({ withDialogs: true, mcp: relayServer() })
    try {
      await s.waitForScreen((v) => v.lines.filter((l) => l.trim()).length > 3, 60_000, 'the first screen')
      await s.waitForScreen(has(/trust|How would you like to authenticate|Get started/i), 60_000, 'a dialog')
      const v = await s.view()
      const trust = v.lines.some((l) => /Do you trust/i.test(l))
      await rec.capture(s, trust ? 'dialog-trust' : 'dialog-auth', 'dialog', trust ? 'folder trust question' : 'auth type dialog')
      if (trust) {
        s.write('\r')
        await s.waitForScreen(has(/How would you like to authenticate|Get started/i), 30_000, 'the auth dialog')
        await rec.capture(s, 'dialog-auth', 'dialog', 'auth type dialog')
      }
    } finally {
      await done()
    }
  }

  // Blank screen before anything is drawn: captured last from a fresh spawn so it is small.
  console.log('session: blank start')
  {
    const { s, done } = await session({ mcp: relayServer() })
    try {
      await s.waitForScreen((v) => !box(v), 5_000, 'the blank screen')
      await rec.capture(s, 'starting-blank', 'starting', 'nothing drawn yet (keys written now are lost)')
    } finally {
      await done()
    }
  }

  rec.write()
}

runRecorder(main)
