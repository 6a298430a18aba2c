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
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeCliHome } from '../../support/cli-rig'
import { claudeClassifier } from '../../../electron/broker/screen/clis/claude'
import type { ScreenView } from '../../../electron/broker/screen'
import { RELAY_FIXTURE, Recorder, askForToolCall, has, openSession, recordPromptStates, runRecorder, waitForBytes, type Session } from './common'

const CLI = 'claude'
const rec = new Recorder(CLI, '2.1.328', claudeClassifier)

async function session(opts: { withDialogs?: boolean; args?: string[] }, fn: (x: Session) => Promise<void>): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'rec-claude-cwd-'))
  const x = await openSession(CLI, cwd, (model) => {
    const home = makeCliHome(CLI, { modelUrl: model.url, cwd, withDialogs: opts.withDialogs })
    const mcp = JSON.stringify({ mcpServers: { 'agent-relay': { command: process.execPath, args: [RELAY_FIXTURE], env: { RECORD_FILE: join(cwd, 'calls.jsonl') } } } })
    return { home, args: [...home.args, '--mcp-config', mcp, ...(opts.args ?? [])] }
  })
  try {
    await fn(x)
  } finally {
    await x.done()
  }
}

const rules = (v: ScreenView) => v.lines.map((l, i) => (/^─{20,}$/.test(l) ? i : -1)).filter((i) => i >= 0)
/** The input box is drawn (two rules with the ❯ prompt between them). */
const promptShown = (v: ScreenView) => {
  const r = rules(v)
  return r.length >= 2 && /^❯/.test(v.lines[r[r.length - 2] + 1] ?? '')
}
const busy = has(/esc to interrupt/)
const idle = (v: ScreenView) => promptShown(v) && /^❯\s*$/.test(v.solid[rules(v).slice(-2)[0] + 1] ?? 'x') && !busy(v)

async function main(): Promise<void> {
  rec.clear()

  // Start-up, idle, typing, paste, busy, idle after a turn.
  await session({ args: ['--permission-mode', 'default'] }, async ({ s, model }) => {
    // The first frame: Claude draws banner and prompt together, so "starting" is what
    // comes before it (the terminal set-up, a blank screen).
    await waitForBytes(s)
    if (!promptShown(await s.view())) await rec.capture(s, 'starting', 'starting', 'first output: terminal set up, nothing drawn yet')
    else console.warn('starting: the prompt was already up at the first output')
    await s.waitForScreen(idle, 20_000, 'the idle prompt')
    await rec.capture(s, 'idle-fresh', 'idle', 'fresh start, empty prompt (auto-mode notice above)')
    await recordPromptStates(rec, { s, model }, {
      idle,
      busy,
      typed: has(/^❯\s+hello there/),
      pasted: { shows: has(/\[Pasted text #1/), file: 'paste-pending', state: 'paste_pending', note: 'bracketed 11-line paste shown as [Pasted text #1 +10 lines], not submitted', input: '[Pasted text #1' },
      labels: { empty: 'an empty prompt again', pasted: 'the paste placeholder', busy: 'the spinner' },
      notes: { busy: 'model working (spinner, esc to interrupt)', busyTyped: 'model working, a line typed into the prompt meanwhile', idleAfterTurn: 'a completed turn above, empty prompt' },
    })
  })

  // Permission prompt for the relay tool (no pre-approval, classic permission mode).
  await session({ args: ['--permission-mode', 'default'] }, async ({ s, model }) => {
    await s.waitForScreen(idle, 20_000, 'the idle prompt')
    await askForToolCall(s, model, /Do you want to proceed\?/, { idle, clearCommand: '/clear' })
    await rec.capture(s, 'permission-mcp', 'permission', 'agent-relay send_dm asks "Do you want to proceed?"')
  })

  // Skip-permissions mode: the one-time warning dialog.
  await session({ args: ['--dangerously-skip-permissions'] }, async ({ s }) => {
    const v = await s.waitForScreen((x) => idle(x) || x.lines.some((l) => /Bypass Permissions mode/i.test(l)), 20_000, 'the bypass warning or the prompt')
    if (v.lines.some((l) => /Bypass Permissions mode/i.test(l))) await rec.capture(s, 'dialog-bypass-permissions', 'dialog', '--dangerously-skip-permissions warning (accept once)')
    else console.log('no bypass-permissions warning shown')
  })

  // First-run dialogs (no key approval / trust seeded): the folder-trust dialog comes
  // first; its default answer "No, exit" quits, so we capture it and stop there.
  await session({ withDialogs: true }, async ({ s }) => {
    await s.waitForScreen((x) => x.lines.some((l) => /Quick safety check|trust this folder/i.test(l)), 20_000, 'the trust dialog')
    await rec.capture(s, 'dialog-trust', 'dialog', 'first run in an untrusted folder: "Quick safety check … Yes, I trust this folder"')
  })

  rec.write()
}

runRecorder(main)
