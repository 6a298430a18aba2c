/**
 * Records the golden screen captures of Claude Code (test/fixtures/screens/claude/) by
 * running the real CLI against the scripted model server, one state at a time:
 *
 *   npx tsx test/real-clis/record/claude.ts
 *
 * Every capture is the raw PTY byte stream from spawn to the moment of the capture
 * (`<file>.raw`) plus the rendered screen (`<file>.txt`); captures.json lists them with the
 * state the classifier must report. Re-record when the pinned version moves.
 *
 * Facts this relies on (Claude Code 2.1.328, offline):
 * - a home from makeCliHome('claude') starts with no dialogs; `withDialogs` shows the
 *   theme picker, the API-key approval and the folder-trust dialog;
 * - the MCP server comes with `--mcp-config '{"mcpServers":{"agent-relay":{…}}}'`;
 * - `--permission-mode default` makes an MCP tool call ask ("Do you want to proceed?");
 *   in the default "auto" mode the API's server-side verdict decides instead;
 * - a bracketed-paste write (`ESC[200~…ESC[201~`) shows as `[Pasted text #1 +N lines]`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readdirSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliBin, makeCliHome } from '../../support/cli-rig'
import { startModelServer, type ModelServer } from '../../support/model-server'
import { SCREEN_FIXTURES, spawnOnScreen, type OnScreen } from '../../support/screen-capture'
import { claudeClassifier } from '../../../electron/broker/screen/clis/claude'
import type { ScreenState, ScreenView } from '../../../electron/broker/screen'

const CLI = 'claude'
const VERSION = '2.1.328'
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
  const cwd = mkdtempSync(join(tmpdir(), 'rec-claude-cwd-'))
  const home = makeCliHome(CLI, { modelUrl: model.url, cwd, withDialogs: opts.withDialogs })
  const mcp = JSON.stringify({ mcpServers: { 'agent-relay': { command: process.execPath, args: [RELAY], env: { RECORD_FILE: join(cwd, 'calls.jsonl') } } } })
  const s = spawnOnScreen(cliBin(CLI), [...home.args, '--mcp-config', mcp, ...(opts.args ?? [])], { env: { ...(process.env as Record<string, string>), ...home.env }, cwd, cols: COLS, rows: ROWS })
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
  const reading = claudeClassifier(await s.view())
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

const rules = (v: ScreenView) => v.lines.map((l, i) => (/^─{20,}$/.test(l) ? i : -1)).filter((i) => i >= 0)
/** The input box is drawn (two rules with the ❯ prompt between them). */
const promptShown = (v: ScreenView) => {
  const r = rules(v)
  return r.length >= 2 && /^❯/.test(v.lines[r[r.length - 2] + 1] ?? '')
}
const idle = (v: ScreenView) => promptShown(v) && /^❯\s*$/.test(v.solid[rules(v).slice(-2)[0] + 1] ?? 'x') && !v.lines.some((l) => /esc to interrupt/.test(l))
const busy = (v: ScreenView) => v.lines.some((l) => /esc to interrupt/.test(l))

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
    s.write('/clear')
    await new Promise((r) => setTimeout(r, 100))
    s.write('\r')
    await s.waitForScreen((x) => idle(x) && !x.lines.some((l) => l.includes('no relay tools yet')), 10_000, 'a cleared screen')
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true })
  for (const f of readdirSync(OUT)) if (/\.(raw|txt)$/.test(f)) unlinkSync(join(OUT, f))

  // Start-up, idle, typing, paste, busy, idle after a turn.
  await session({ args: ['--permission-mode', 'default'] }, async ({ s, model }) => {
    // The first frame: Claude draws banner and prompt together, so "starting" is what
    // comes before it (the terminal set-up, a blank screen).
    await waitForBytes(s)
    if (!promptShown(await s.view())) await capture(s, 'starting', 'starting', 'first output: terminal set up, nothing drawn yet')
    else console.warn('starting: the prompt was already up at the first output')
    await s.waitForScreen(idle, 20_000, 'the idle prompt')
    await capture(s, 'idle-fresh', 'idle', 'fresh start, empty prompt (auto-mode notice above)')
    s.write('hello there')
    await s.waitForScreen((v) => v.lines.some((l) => /^❯\s+hello there/.test(l)), 5_000, 'the typed text')
    await capture(s, 'typing', 'typing', 'a line typed, not submitted', 'hello there')
    s.write('\x15') // ctrl+u: clear the line
    await s.waitForScreen(idle, 5_000, 'an empty prompt again')
    s.write(`\x1b[200~${TEN_LINES}\x1b[201~`)
    await s.waitForScreen((v) => v.lines.some((l) => /\[Pasted text #1/.test(l)), 5_000, 'the paste placeholder')
    await capture(s, 'paste-pending', 'paste_pending', 'bracketed 11-line paste shown as [Pasted text #1 +10 lines], not submitted', '[Pasted text #1')
    model.setResponder(() => ({ text: 'Done: I read the message from alice.', delayMs: 8000 }))
    s.write('\r')
    await model.waitFor((r) => r.kind === 'turn', 10_000, 'the turn')
    await s.waitForScreen(busy, 5_000, 'the spinner')
    await capture(s, 'busy', 'busy', 'model working (spinner, esc to interrupt)')
    s.write('typed while busy')
    await s.waitForScreen((v) => v.lines.some((l) => l.includes('typed while busy')), 5_000, 'the text typed while busy')
    await capture(s, 'busy-typed', 'busy', 'model working, a line typed into the prompt meanwhile', 'typed while busy')
    s.write('\x15')
    await s.waitForScreen((v) => idle(v) && v.lines.some((l) => l.includes('Done: I read the message')), 20_000, 'idle after the turn')
    await capture(s, 'idle-after-turn', 'idle', 'a completed turn above, empty prompt')
  })

  // Permission prompt for the relay tool (no pre-approval, classic permission mode).
  await session({ args: ['--permission-mode', 'default'] }, async ({ s, model }) => {
    await s.waitForScreen(idle, 20_000, 'the idle prompt')
    await askForToolCall(s, model, /Do you want to proceed\?/)
    await capture(s, 'permission-mcp', 'permission', 'agent-relay send_dm asks "Do you want to proceed?"')
  })

  // Skip-permissions mode: the one-time warning dialog.
  await session({ args: ['--dangerously-skip-permissions'] }, async ({ s }) => {
    const v = await s.waitForScreen((x) => idle(x) || x.lines.some((l) => /Bypass Permissions mode/i.test(l)), 20_000, 'the bypass warning or the prompt')
    if (v.lines.some((l) => /Bypass Permissions mode/i.test(l))) await capture(s, 'dialog-bypass-permissions', 'dialog', '--dangerously-skip-permissions warning (accept once)')
    else console.log('no bypass-permissions warning shown')
  })

  // First-run dialogs (no key approval / trust seeded): the folder-trust dialog comes
  // first; its default answer "No, exit" quits, so we capture it and stop there.
  await session({ withDialogs: true }, async ({ s }) => {
    await s.waitForScreen((x) => x.lines.some((l) => /Quick safety check|trust this folder/i.test(l)), 20_000, 'the trust dialog')
    await capture(s, 'dialog-trust', 'dialog', 'first run in an untrusted folder: "Quick safety check … Yes, I trust this folder"')
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
