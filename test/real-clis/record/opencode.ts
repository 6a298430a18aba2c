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
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliBin, makeCliHome, rigAvailability } from '../../support/cli-rig'
import { opencodeConfig } from '../../support/cli-homes/opencode'
import { startModelServer, type ModelServer } from '../../support/model-server/index'
import { SCREEN_FIXTURES, spawnOnScreen, type OnScreen } from '../../support/screen-capture'
import { tempDir } from '../../support/wait'
import type { ScreenState, ScreenView } from '../../../electron/broker/screen'

const OUT = join(SCREEN_FIXTURES, 'opencode')
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

/** A gap between two writes. */
const gap = (ms: number) => new Promise((r) => setTimeout(r, ms))
const has = (re: RegExp) => (v: ScreenView) => v.lines.some((l) => re.test(l))
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

async function session(extra: Record<string, unknown>): Promise<{ s: OnScreen; model: ModelServer; done(): Promise<void> }> {
  const model = await startModelServer()
  const cwd = tempDir('opencode-cwd')
  const home = makeCliHome('opencode', { modelUrl: model.url, cwd })
  opencodeConfig(home.home, extra)
  const s = spawnOnScreen(cliBin('opencode'), home.args, { env: { ...(process.env as Record<string, string>), ...home.env }, cwd, cols: COLS, rows: ROWS })
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

const relay = { 'agent-relay': { type: 'local', command: ['node', RELAY], environment: { RECORD_FILE: '/dev/null' } } }

async function main(): Promise<void> {
  const avail = rigAvailability('opencode')
  if (!avail.ok) throw new Error(avail.reason)
  rmSync(OUT, { recursive: true, force: true })

  console.log('session: main')
  {
    const { s, model, done } = await session({ mcp: relay, permission: { 'agent-relay_*': 'ask' } })
    try {
      model.setResponder((r) => {
        if (r.toolResults.length) return { text: 'Sent the reply.' }
        if (r.userText.includes('slow')) return { text: 'Done, slowly.', delayMs: 8000 }
        if (r.userText.includes('please dm')) return { tool: 'send_dm', args: { to: 'alice', text: 'hi alice' } }
        return { text: 'OK.' }
      })
      await s.waitForScreen((v) => !prompt(v), 5_000, 'the screen before the prompt')
      await capture(s, 'starting-blank', 'starting', 'nothing drawn yet')
      await s.waitForScreen(prompt, 90_000, 'the prompt')
      await capture(s, 'idle-fresh', 'idle', 'fresh start: logo, empty prompt with placeholder')

      s.write('hello there')
      await s.waitForScreen((v) => inputOf(v) === 'hello there', 10_000, 'the typed line')
      await capture(s, 'typing', 'typing', 'one line typed, not submitted', 'hello there')
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello there'), 30_000)
      await s.waitForScreen((v) => has(/^\s*OK\.\s*$/)(v) && prompt(v) && !working(v), 30_000, 'the answer')
      await capture(s, 'idle-after-turn', 'idle', 'after a completed turn, answer above')

      s.write(`\x1b[200~${reminder('msg_1')}\x1b[201~`)
      await s.waitForScreen(has(/\[Pasted|msg_1/), 10_000, 'the pasted text')
      {
        const v = await s.view()
        const placeholder = v.lines.some((l) => /\[Pasted/.test(l))
        await capture(s, 'paste-pending', placeholder ? 'paste_pending' : 'typing', 'bracketed 12-line paste, not submitted', placeholder ? '[Pasted' : 'hello msg_1')
      }
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_1'), 30_000)
      await s.waitForScreen((v) => emptyInput(v) && !working(v), 30_000, 'the paste answered')

      s.write(reminder('msg_2'))
      await s.waitForScreen(has(/msg_2|\[Pasted/), 10_000, 'the raw multi-line text')
      {
        const v = await s.view()
        const placeholder = v.lines.some((l) => /\[Pasted/.test(l))
        await capture(s, 'typing-multiline', placeholder ? 'paste_pending' : 'typing', '12 lines written raw (no bracketed paste), not submitted', placeholder ? '[Pasted' : 'hello msg_2')
      }
      await gap(150)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('hello msg_2'), 30_000)
      await s.waitForScreen((v) => emptyInput(v) && !working(v), 30_000, 'the raw text answered')

      s.write('please go slow')
      await gap(100)
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('slow'), 30_000)
      await s.waitForScreen(working, 10_000, 'the working indicator')
      await capture(s, 'busy', 'busy', 'model working (responder delay 8 s)')
      s.write('typed while busy')
      await s.waitForScreen((v) => inputOf(v) === 'typed while busy', 10_000, 'text typed while busy')
      await capture(s, 'busy-typed', 'busy', 'busy, with text typed into the prompt')
      s.write('\r')
      await model.waitFor((r) => r.kind === 'turn' && r.userText.includes('typed while busy'), 40_000)
      await s.waitForScreen((v) => has(/Done, slowly\./)(v) && prompt(v) && !working(v), 40_000, 'the slow answer')

      s.write('please dm alice')
      await gap(100)
      s.write('\r')
      await s.waitForScreen(has(/Permission required|Allow once|△/i), 40_000, 'the permission prompt')
      await capture(s, 'permission', 'permission', 'send_dm asks because of permission {"agent-relay_*": "ask"}')
      s.write('\r') // the first choice: allow once
      await model.waitFor((r) => r.toolResults.length > 0, 30_000)
      await s.waitForScreen((v) => has(/Sent the reply\./)(v) && prompt(v) && !working(v), 30_000, 'the answer after the tool ran')
      await capture(s, 'idle-after-tool', 'idle', 'after an approved tool call')

      s.write('\x10') // ctrl+p: the command palette
      await s.waitForScreen(has(/Commands/), 10_000, 'the command palette')
      await capture(s, 'dialog-commands', 'dialog', 'ctrl+p command palette (opencode has no first-run dialog)')
      if (model.errors.length) throw new Error(`model server errors: ${model.errors.join('; ')}`)
    } finally {
      await done()
    }
  }

  writeFileSync(join(OUT, 'captures.json'), `${JSON.stringify({ cli: 'opencode', version: '1.18.33', captures }, null, 2)}\n`)
  console.log(`wrote ${captures.length} captures to ${OUT}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
