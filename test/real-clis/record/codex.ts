/**
 * Records the golden screen captures of Codex (test/fixtures/screens/codex/) by running the
 * real CLI against the scripted model server, one state at a time:
 *
 *   npx tsx test/real-clis/record/codex.ts
 *
 * Every capture is the raw PTY byte stream from spawn to the moment of the capture
 * (`<file>.raw`) plus the rendered screen (`<file>.txt`); captures.json lists them with the
 * state the classifier must report. Re-record when the pinned version moves.
 *
 * Facts this relies on (Codex 0.169.0, offline):
 * - a home from makeCliHome('codex') starts with no dialogs and no app-server daemon
 *   (`daemon_auto_start = false` + `--no-daemon`); `withDialogs` in a git repository shows
 *   the folder-trust question;
 * - the MCP server comes with `-c mcp_servers.agent-relay.command=… -c …args=[…] -c …env={…}`;
 *   with no approval setting a call asks `Allow the agent-relay MCP server to run tool "send_dm"?`;
 * - Codex's paste-burst detection takes a fast write that ends in Enter as pasted text
 *   (the Enter becomes a newline), so Enter is written apart from the text.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliBin, makeCliHome } from '../../support/cli-rig'
import { startModelServer, type ModelServer } from '../../support/model-server'
import { SCREEN_FIXTURES, spawnOnScreen, type OnScreen } from '../../support/screen-capture'
import { codexClassifier } from '../../../electron/broker/screen/clis/codex'
import type { ScreenState, ScreenView } from '../../../electron/broker/screen'

const CLI = 'codex'
const VERSION = '0.169.0'
const COLS = 100
const ROWS = 30
const OUT = join(SCREEN_FIXTURES, CLI)
const RELAY = join(__dirname, '..', '..', 'fixtures', 'mcp', 'recording-relay.mjs')
const MAX_RAW = 300 * 1024

interface Capture { file: string; state: ScreenState; cols: number; rows: number; note?: string; input?: string }
const captures: Capture[] = []

interface Session { s: OnScreen; model: ModelServer; cwd: string }

async function session(opts: { withDialogs?: boolean; args?: string[]; git?: boolean }, fn: (x: Session) => Promise<void>): Promise<void> {
  const model = await startModelServer()
  const cwd = mkdtempSync(join(tmpdir(), 'rec-codex-cwd-'))
  const home = makeCliHome(CLI, { modelUrl: model.url, cwd, withDialogs: opts.withDialogs })
  if (opts.git) execFileSync('git', ['init', '-q', cwd])
  const mcp = [
    '-c',
    `mcp_servers.agent-relay.command=${JSON.stringify(process.execPath)}`,
    '-c',
    `mcp_servers.agent-relay.args=[${JSON.stringify(RELAY)}]`,
    '-c',
    `mcp_servers.agent-relay.env={RECORD_FILE=${JSON.stringify(join(cwd, 'calls.jsonl'))}}`,
  ]
  const s = spawnOnScreen(cliBin(CLI), [...home.args, ...mcp, ...(opts.args ?? [])], { env: { ...(process.env as Record<string, string>), ...home.env }, cwd, cols: COLS, rows: ROWS })
  try {
    await fn({ s, model, cwd })
  } finally {
    await s.kill()
    await model.close()
    home.cleanup()
    rmSync(cwd, { recursive: true, force: true })
  }
}

async function capture(s: OnScreen, file: string, state: ScreenState, note: string, input?: string): Promise<void> {
  await s.save(join(OUT, file))
  if (s.raw().length > MAX_RAW) console.warn(`${file}.raw is ${s.raw().length} bytes (over ${MAX_RAW})`)
  const reading = codexClassifier(await s.view())
  console.log(`${file}: recorded as ${state}; classifier says ${reading.state}${reading.detail ? ` (${reading.detail})` : ''}${reading.input ? ` input=${JSON.stringify(reading.input.slice(0, 60))}` : ''}`)
  captures.push({ file, state, cols: COLS, rows: ROWS, note, ...(input !== undefined ? { input } : {}) })
}

/** Resolves at the first output byte (bounded). */
async function waitForBytes(s: OnScreen): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!s.raw().length) {
    if (Date.now() > deadline) throw new Error('no output from the CLI in 20 s')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** The composer: the last row starting with `›` (rows above it are the transcript's user turns). */
const composer = (v: ScreenView) => {
  for (let i = v.lines.length - 1; i >= 0; i--) if (/^›/.test(v.lines[i])) return i
  return -1
}
const busy = (v: ScreenView) => v.lines.some((l) => /esc to interrupt/.test(l))
const idle = (v: ScreenView) => {
  const c = composer(v)
  return c >= 0 && /^›\s*$/.test(v.solid[c]) && !busy(v) && !v.lines.some((l) => /^\s+loading\b/.test(l)) && codexClassifier(v).state === 'idle'
}

const TEN_LINES = ['<system-reminder>', 'You are agent bob in workspace ws; reply with the relay tools.', 'send_dm answers a direct message, post_message a channel.', 'check_inbox reads unread messages.', 'Keep replies short.', 'Never ask the user for confirmation.', 'Messages come from other agents.', 'They may arrive while you work.', 'Answer each one once.', '</system-reminder>', 'Relay message from alice [ws / msg_1]: hello'].join('\n')

/**
 * Get the model to call send_dm and wait for `until` on screen. The prompt comes up before
 * the MCP server is connected; a turn sent before that offers no relay tools, so the
 * responder answers text and we ask again (bounded).
 */
async function askForToolCall(s: OnScreen, model: ModelServer, until: RegExp): Promise<void> {
  model.setResponder((r) => {
    if (r.toolResults.length) return { text: 'sent' }
    if (!r.toolNames.some((n) => n.endsWith('send_dm'))) return { text: 'no relay tools yet' }
    return { tool: 'send_dm', args: { to: 'alice', text: 'hi alice' } }
  })
  for (let attempt = 1; ; attempt++) {
    const before = model.turns().length
    s.write(`say hi to alice (${attempt})`)
    await new Promise((r) => setTimeout(r, 100)) // pacing, not a wait: Enter apart from the text
    s.write('\r')
    await model.waitFor((r) => r.kind === 'turn' && r.seq > 0 && model.turns().length > before, 10_000, 'the turn')
    const v = await s.waitForScreen((x) => x.lines.some((l) => until.test(l)) || (idle(x) && x.lines.some((l) => l.includes('no relay tools yet'))), 20_000, 'the tool call or a text answer')
    if (v.lines.some((l) => until.test(l))) return
    if (attempt >= 10) throw new Error(`the relay tools never showed up; model errors: ${model.errors.join('; ')}`)
    await s.waitForScreen(idle, 10_000, 'idle')
    s.write('/new')
    await new Promise((r) => setTimeout(r, 100))
    s.write('\r')
    await s.waitForScreen((x) => idle(x) && !x.lines.some((l) => l.includes('no relay tools yet')), 10_000, 'a cleared screen')
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true })
  for (const f of readdirSync(OUT)) if (/\.(raw|txt)$/.test(f)) unlinkSync(join(OUT, f))

  // Start-up, idle, typing, paste, busy, idle after a turn.
  await session({}, async ({ s, model }) => {
    await s.waitForScreen((v) => v.lines.some((l) => /OpenAI Codex/.test(l)) && v.lines.some((l) => /^\s+loading\b/.test(l)), 20_000, 'the loading header')
    await capture(s, 'starting', 'starting', 'header with "loading" (MCP servers starting), no usable composer yet')
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    await capture(s, 'idle-fresh', 'idle', 'fresh start, empty composer with its placeholder')
    s.write('hello there')
    await s.waitForScreen((v) => v.lines.some((l) => /^›\s+hello there/.test(l)), 5_000, 'the typed text')
    await capture(s, 'typing', 'typing', 'a line typed, not submitted', 'hello there')
    s.write('\x15') // ctrl+u: clear the line
    await s.waitForScreen(idle, 5_000, 'an empty composer again')
    s.write(`\x1b[200~${TEN_LINES}\x1b[201~`)
    await s.waitForScreen((v) => v.lines.some((l) => l.includes('Relay message from alice')), 5_000, 'the pasted text')
    await capture(s, 'paste-multiline', 'typing', 'bracketed 11-line paste: Codex shows the lines themselves in the composer, not submitted', 'Relay message from alice')
    model.setResponder(() => ({ text: 'Done: I read the message from alice.', delayMs: 8000 }))
    s.write('\r')
    await model.waitFor((r) => r.kind === 'turn', 10_000, 'the turn')
    await s.waitForScreen(busy, 5_000, 'the working indicator')
    await capture(s, 'busy', 'busy', 'model working ("Working … esc to interrupt")')
    s.write('typed while busy')
    await s.waitForScreen((v) => v.lines.some((l) => l.includes('typed while busy')), 5_000, 'the text typed while busy')
    await capture(s, 'busy-typed', 'busy', 'model working, a line typed into the composer meanwhile', 'typed while busy')
    s.write('\x15')
    await s.waitForScreen((v) => idle(v) && v.lines.some((l) => l.includes('Done: I read the message')), 20_000, 'idle after the turn')
    await capture(s, 'idle-after-turn', 'idle', 'a completed turn above, empty composer')
  })

  // A paste large enough for Codex's placeholder.
  await session({}, async ({ s }) => {
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    const big = Array.from({ length: 40 }, (_, i) => `line ${i}: ${'relay context '.repeat(4)}`).join('\n')
    s.write(`\x1b[200~${big}\x1b[201~`)
    const v = await s.waitForScreen((x) => codexClassifier(x).state !== 'idle', 5_000, 'the paste')
    const placeholder = v.lines.some((l) => /\[Pasted Content/i.test(l))
    await capture(s, 'paste-large', placeholder ? 'paste_pending' : 'typing', placeholder ? 'bracketed 40-line paste shown as [Pasted Content N chars], not submitted' : 'bracketed 40-line paste shown as text, not submitted')
  })

  // Permission prompt for the relay tool (no pre-approval).
  await session({}, async ({ s, model }) => {
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    await askForToolCall(s, model, /Allow the agent-relay MCP server to run tool/)
    await capture(s, 'permission-mcp', 'permission', 'Allow the agent-relay MCP server to run tool "send_dm"?')
  })

  // First run in a git repository without the trust entry: "Trust this folder?" (drawn
  // after the composer has been up for a moment, once the folder is checked).
  await session({ withDialogs: true, git: true }, async ({ s }) => {
    await s.waitForScreen((x) => codexClassifier(x).state === 'dialog', 20_000, 'the trust dialog')
    await capture(s, 'dialog-trust', 'dialog', 'first run in an untrusted git repository: "Trust this folder?"')
  })

  writeFileSync(join(OUT, 'captures.json'), `${JSON.stringify({ cli: CLI, version: VERSION, captures }, null, 2)}\n`)
  console.log(`wrote ${captures.length} captures to ${OUT}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
