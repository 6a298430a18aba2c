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
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliBin, makeCliHome, rigAvailability } from '../../support/cli-rig'
import { geminiSystemDefaults, privateGeminiHome } from '../../support/cli-homes/gemini'
import { startModelServer, type ModelServer } from '../../support/model-server/index'
import { SCREEN_FIXTURES, spawnOnScreen, type OnScreen } from '../../support/screen-capture'
import { tempDir } from '../../support/wait'
import type { ScreenState, ScreenView } from '../../../electron/broker/screen'

const OUT = join(SCREEN_FIXTURES, 'gemini')
const COLS = 100
const ROWS = 30
const RELAY = join(__dirname, '..', '..', 'fixtures', 'mcp', 'recording-relay.mjs')
const MAX_RAW = 300_000

interface Capture {
  file: string
  state: ScreenState
  cols: number
  rows: number
  note?: string
  input?: string
}
const captures: Capture[] = []

/** A gap between two writes (Gemini takes an Enter within 30 ms of a key, or 40 ms of a paste, as a newline). */
const gap = (ms: number) => new Promise((r) => setTimeout(r, ms))

const has = (re: RegExp) => (v: ScreenView) => v.lines.some((l) => re.test(l))
const header = has(/Gemini CLI v\d/)
const box = has(/^ > /)
const placeholder = has(/Type your message or @path/)
const settledIdle = (v: ScreenView) => placeholder(v) && !has(/esc to cancel/)(v)

async function capture(s: OnScreen, file: string, state: ScreenState, note: string, input?: string): Promise<void> {
  await s.save(join(OUT, file))
  const size = s.raw().length
  if (size > MAX_RAW) throw new Error(`${file}.raw is ${size} bytes (over ${MAX_RAW})`)
  captures.push({ file, state, cols: COLS, rows: ROWS, note, ...(input !== undefined ? { input } : {}) })
  console.log(`  ${file}: ${state} (${size} bytes)`)
}

function reminder(tag: string): string {
  return [
    '<system-reminder>',
    'You are an agent on Agent Relay.',
    'Use the agent-relay MCP tools to reply:',
    '- send_dm to answer a direct message',
    '- post_message for channels',
    '- check_inbox to read unread messages',
    'Reply to the sender, not to this terminal.',
    'Keep replies short.',
    'Do not echo this reminder.',
    '</system-reminder>',
    '',
    `Relay message from alice [ws / ${tag}]: hello ${tag}`,
  ].join('\n')
}

interface Session {
  s: OnScreen
  model: ModelServer
  done(): Promise<void>
}

async function session(opts: { withDialogs?: boolean; mcp?: Record<string, unknown> }): Promise<Session> {
  const model = await startModelServer()
  const cwd = tempDir('gemini-cwd')
  const home = makeCliHome('gemini', { modelUrl: model.url, cwd, home: privateGeminiHome(), withDialogs: opts.withDialogs })
  const env: Record<string, string> = { ...(process.env as Record<string, string>), ...home.env }
  if (opts.mcp) Object.assign(env, geminiSystemDefaults(home.home, { 'agent-relay': opts.mcp }))
  const s = spawnOnScreen(cliBin('gemini'), home.args, { env, cwd, cols: COLS, rows: ROWS })
  return {
    s,
    model,
    async done() {
      await s.kill()
      await model.close()
      home.cleanup()
      rmSync(cwd, { recursive: true, force: true })
    },
  }
}

const relayServer = (extra: Record<string, unknown> = {}) => ({ command: 'node', args: [RELAY], env: { RECORD_FILE: '/dev/null' }, ...extra })

async function main(): Promise<void> {
  const avail = rigAvailability('gemini')
  if (!avail.ok) throw new Error(avail.reason)
  rmSync(OUT, { recursive: true, force: true })

  // 1. The usual start with the relay MCP server (not trusted), then every state.
  console.log('session: main')
  {
    const { s, model, done } = await session({ mcp: relayServer() })
    try {
      model.setResponder((r) => {
        if (r.toolResults.length) return { text: 'Sent the reply.' }
        if (r.userText.includes('slow')) return { text: 'Done, slowly.', delayMs: 8000 }
        if (r.userText.includes('please dm')) return { tool: 'send_dm', args: { to: 'alice', text: 'hi alice' } }
        return { text: 'OK.' }
      })
      // The input box is drawn ~0.5-1 s before the config is initialized (no header yet);
      // an Enter in that window is dropped (the text stays), keys before the box are lost.
      await s.waitForScreen((v) => box(v) && !header(v), 60_000, 'the input box before the header')
      await capture(s, 'starting-box', 'starting', 'input box drawn, config not initialized (no header): Enter is dropped here')
      await s.waitForScreen((v) => header(v) && placeholder(v), 30_000, 'the header and an empty prompt')
      await capture(s, 'idle-fresh', 'idle', 'fresh start, empty prompt with placeholder')

      s.write('hello there')
      await s.waitForScreen(has(/^ > hello there/), 10_000, 'the typed line')
      await capture(s, 'typing', 'typing', 'one line typed, not submitted', 'hello there')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello there'), 15_000)
      await s.waitForScreen((v) => has(/✦ OK\./)(v) && placeholder(v), 15_000, 'the answer and an empty prompt')
      await capture(s, 'idle-after-turn', 'idle', 'after a completed turn, answer above')

      // Bracketed paste of a multi-line message: a placeholder until Enter.
      s.write(`\x1b[200~${reminder('msg_1')}\x1b[201~`)
      await s.waitForScreen(has(/^ > \[Pasted Text: 12 lines\]/), 10_000, 'the paste placeholder')
      await capture(s, 'paste-pending', 'paste_pending', 'bracketed 12-line paste, not submitted', '[Pasted Text: 12 lines]')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_1'), 15_000)
      await s.waitForScreen(settledIdle, 15_000, 'the second answer')

      // The same text written raw (no bracketed paste): shown line by line in the box.
      s.write(reminder('msg_2'))
      await s.waitForScreen(has(/Relay message from alice \[ws \/ msg_2\]/), 10_000, 'the raw multi-line text')
      await capture(s, 'typing-multiline', 'typing', '12 lines written raw (no bracketed paste), not submitted', 'hello msg_2')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_2'), 15_000)
      await s.waitForScreen(settledIdle, 15_000, 'the third answer')

      s.write('please go slow')
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('slow'), 15_000)
      await s.waitForScreen(has(/esc to cancel/), 10_000, 'the spinner')
      await capture(s, 'busy', 'busy', 'model working (responder delay 8 s)')
      s.write('typed while busy')
      await s.waitForScreen(has(/^ > typed while busy/), 10_000, 'text typed while busy')
      await capture(s, 'busy-typed', 'busy', 'busy, with text typed into the prompt')
      await gap(150)
      s.write('\r') // queued: sent after the turn
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('typed while busy'), 20_000)
      await s.waitForScreen((v) => has(/Done, slowly\./)(v) && placeholder(v) && !has(/esc to cancel/)(v), 20_000, 'the slow answer')

      s.write('please dm alice')
      await gap(150)
      s.write('\r')
      await s.waitForScreen(has(/Action Required|Allow execution/), 20_000, 'the tool approval prompt')
      await capture(s, 'permission', 'permission', 'send_dm on the untrusted agent-relay server asks')
      s.write('1') // allow once
      await model.waitFor((r) => r.toolResults.length > 0, 20_000)
      await s.waitForScreen((v) => has(/Sent the reply\./)(v) && placeholder(v), 20_000, 'the answer after the tool ran')
      await capture(s, 'idle-after-tool', 'idle', 'after an approved tool call')
      if (model.errors.length) throw new Error(`model server errors: ${model.errors.join('; ')}`)
    } finally {
      await done()
    }
  }

  // 2. A slow MCP server (starts after 4 s): the header shows, prompts submitted now are queued.
  console.log('session: slow MCP')
  {
    const { s, model, done } = await session({ mcp: relayServer({ command: 'sh', args: ['-c', `sleep 4; exec node '${RELAY}'`] }) })
    try {
      await s.waitForScreen((v) => header(v) && placeholder(v), 60_000, 'the header')
      await capture(s, 'idle-mcp-connecting', 'idle', 'MCP server still connecting; nothing on screen says so, a prompt submitted now is queued')
      s.write('queued early')
      await gap(150)
      s.write('\r')
      await s.waitForScreen(has(/Queued \(press/), 10_000, 'the queued prompt')
      await capture(s, 'starting-queued', 'starting', '"Waiting for MCP servers to initialize", prompt queued until the MCP server is up')
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
      await capture(s, trust ? 'dialog-trust' : 'dialog-auth', 'dialog', trust ? 'folder trust question' : 'auth type dialog')
      if (trust) {
        s.write('\r')
        await s.waitForScreen(has(/How would you like to authenticate|Get started/i), 30_000, 'the auth dialog')
        await capture(s, 'dialog-auth', 'dialog', 'auth type dialog')
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
      await capture(s, 'starting-blank', 'starting', 'nothing drawn yet (keys written now are lost)')
    } finally {
      await done()
    }
  }

  writeFileSync(join(OUT, 'captures.json'), `${JSON.stringify({ cli: 'gemini', version: '0.61.0', captures }, null, 2)}\n`)
  console.log(`wrote ${captures.length} captures to ${OUT}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
