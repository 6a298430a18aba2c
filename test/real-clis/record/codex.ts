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
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeCliHome } from '../../support/cli-rig'
import { codexClassifier } from '../../../electron/broker/screen/clis/codex'
import type { ScreenView } from '../../../electron/broker/screen'
import { RELAY_FIXTURE, Recorder, askForToolCall, has, openSession, recordPromptStates, runRecorder, type Session } from './common'

const CLI = 'codex'
const rec = new Recorder(CLI, '0.169.0', codexClassifier)

async function session(opts: { withDialogs?: boolean; args?: string[]; git?: boolean }, fn: (x: Session) => Promise<void>): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'rec-codex-cwd-'))
  const x = await openSession(CLI, cwd, (model) => {
    const home = makeCliHome(CLI, { modelUrl: model.url, cwd, withDialogs: opts.withDialogs })
    if (opts.git) execFileSync('git', ['init', '-q', cwd])
    const mcp = [
      '-c',
      `mcp_servers.agent-relay.command=${JSON.stringify(process.execPath)}`,
      '-c',
      `mcp_servers.agent-relay.args=[${JSON.stringify(RELAY_FIXTURE)}]`,
      '-c',
      `mcp_servers.agent-relay.env={RECORD_FILE=${JSON.stringify(join(cwd, 'calls.jsonl'))}}`,
    ]
    return { home, args: [...home.args, ...mcp, ...(opts.args ?? [])] }
  })
  try {
    await fn(x)
  } finally {
    await x.done()
  }
}

/** The composer: the last row starting with `›` (rows above it are the transcript's user turns). */
const composer = (v: ScreenView) => {
  for (let i = v.lines.length - 1; i >= 0; i--) if (/^›/.test(v.lines[i])) return i
  return -1
}
const busy = has(/esc to interrupt/)
const idle = (v: ScreenView) => {
  const c = composer(v)
  return c >= 0 && /^›\s*$/.test(v.solid[c]) && !busy(v) && !v.lines.some((l) => /^\s+loading\b/.test(l)) && codexClassifier(v).state === 'idle'
}

async function main(): Promise<void> {
  rec.clear()

  // Start-up, idle, typing, paste, busy, idle after a turn.
  await session({}, async ({ s, model }) => {
    await s.waitForScreen((v) => v.lines.some((l) => /OpenAI Codex/.test(l)) && v.lines.some((l) => /^\s+loading\b/.test(l)), 20_000, 'the loading header')
    await rec.capture(s, 'starting', 'starting', 'header with "loading" (MCP servers starting), no usable composer yet')
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    await rec.capture(s, 'idle-fresh', 'idle', 'fresh start, empty composer with its placeholder')
    await recordPromptStates(rec, { s, model }, {
      idle,
      busy,
      typed: has(/^›\s+hello there/),
      pasted: { shows: has(/Relay message from alice/), file: 'paste-multiline', state: 'typing', note: 'bracketed 11-line paste: Codex shows the lines themselves in the composer, not submitted', input: 'Relay message from alice' },
      labels: { empty: 'an empty composer again', pasted: 'the pasted text', busy: 'the working indicator' },
      notes: { busy: 'model working ("Working … esc to interrupt")', busyTyped: 'model working, a line typed into the composer meanwhile', idleAfterTurn: 'a completed turn above, empty composer' },
    })
  })

  // A paste large enough for Codex's placeholder.
  await session({}, async ({ s }) => {
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    const big = Array.from({ length: 40 }, (_, i) => `line ${i}: ${'relay context '.repeat(4)}`).join('\n')
    s.write(`\x1b[200~${big}\x1b[201~`)
    const v = await s.waitForScreen((x) => codexClassifier(x).state !== 'idle', 5_000, 'the paste')
    const placeholder = v.lines.some((l) => /\[Pasted Content/i.test(l))
    await rec.capture(s, 'paste-large', placeholder ? 'paste_pending' : 'typing', placeholder ? 'bracketed 40-line paste shown as [Pasted Content N chars], not submitted' : 'bracketed 40-line paste shown as text, not submitted')
  })

  // Permission prompt for the relay tool (no pre-approval).
  await session({}, async ({ s, model }) => {
    await s.waitForScreen(idle, 20_000, 'the idle composer')
    await askForToolCall(s, model, /Allow the agent-relay MCP server to run tool/, { idle, clearCommand: '/new' })
    await rec.capture(s, 'permission-mcp', 'permission', 'Allow the agent-relay MCP server to run tool "send_dm"?')
  })

  // First run in a git repository without the trust entry: "Trust this folder?" (drawn
  // after the composer has been up for a moment, once the folder is checked).
  await session({ withDialogs: true, git: true }, async ({ s }) => {
    await s.waitForScreen((x) => codexClassifier(x).state === 'dialog', 20_000, 'the trust dialog')
    await rec.capture(s, 'dialog-trust', 'dialog', 'first run in an untrusted git repository: "Trust this folder?"')
  })

  rec.write()
}

runRecorder(main)
