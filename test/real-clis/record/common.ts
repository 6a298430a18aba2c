/**
 * What the recorders under test/real-clis/record/ share: the terminal size and the relay
 * stand-in every capture is made with, the capture bookkeeping behind captures.json, and
 * the small screen helpers. What tells one CLI's screens apart (predicates, how a session
 * is launched, which states are captured in which order) stays in each recorder.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliBin, type CliHome, type RigCli } from '../../support/cli-rig'
import { startModelServer, type ModelServer, type Responder } from '../../support/model-server'
import { SCREEN_FIXTURES, spawnOnScreen, type OnScreen } from '../../support/screen-capture'
import type { ScreenClassifier, ScreenState, ScreenView } from '../../../electron/broker/screen'

// The classifier tests replay every capture at the size stored in captures.json; one size
// for all CLIs keeps the fixtures comparable.
export const COLS = 100
export const ROWS = 30
/** The MCP server the CLIs get as `agent-relay`: it offers the relay tools and records the calls. */
export const RELAY_FIXTURE = join(__dirname, '..', '..', 'fixtures', 'mcp', 'recording-relay.mjs')
/** Captures are committed; a larger .raw means the capture came late (a long transcript), so recording stops instead. */
export const MAX_RAW = 300_000

interface Capture {
  file: string
  state: ScreenState
  cols: number
  rows: number
  note?: string
  input?: string
}

/** The captures of one CLI version, saved under test/fixtures/screens/<cli>/. */
export class Recorder {
  readonly out: string
  private readonly captures: Capture[] = []

  /** `classify`, when given, is logged next to each capture so a disagreement shows while recording. */
  constructor(
    readonly cli: string,
    readonly version: string,
    private readonly classify?: ScreenClassifier,
  ) {
    this.out = join(SCREEN_FIXTURES, cli)
  }

  /** Empties the output folder: a capture this run no longer makes must not outlive it. */
  clear(): void {
    rmSync(this.out, { recursive: true, force: true })
  }

  /** Saves `<file>.raw` and `<file>.txt` and lists them with the state the classifier must report. */
  async capture(s: OnScreen, file: string, state: ScreenState, note: string, input?: string): Promise<void> {
    await s.save(join(this.out, file))
    const size = s.raw().length
    if (size > MAX_RAW) throw new Error(`${file}.raw is ${size} bytes (over ${MAX_RAW})`)
    this.captures.push({ file, state, cols: COLS, rows: ROWS, note, ...(input !== undefined ? { input } : {}) })
    let says = ''
    if (this.classify) {
      const reading = this.classify(await s.view())
      says = `; classifier says ${reading.state}${reading.detail ? ` (${reading.detail})` : ''}${reading.input ? ` input=${JSON.stringify(reading.input.slice(0, 60))}` : ''}`
    }
    console.log(`  ${file}: ${state} (${size} bytes)${says}`)
  }

  write(): void {
    mkdirSync(this.out, { recursive: true })
    writeFileSync(join(this.out, 'captures.json'), `${JSON.stringify({ cli: this.cli, version: this.version, captures: this.captures }, null, 2)}\n`)
    console.log(`wrote ${this.captures.length} captures to ${this.out}`)
  }
}

type Shows = (v: ScreenView) => boolean

export interface Session {
  s: OnScreen
  model: ModelServer
  cwd: string
  /** Stops the CLI and the model server and removes the home and `cwd`. */
  done(): Promise<void>
}

/**
 * Starts a scripted model server, lets `launch` seed the CLI's home for it (and say how the
 * relay MCP server is wired in), and spawns the CLI in `cwd` at COLS x ROWS. The caller
 * names `cwd`: the CLIs print it, so its prefix is part of the captured screens.
 */
export async function openSession(cli: RigCli, cwd: string, launch: (model: ModelServer) => { home: CliHome; args: string[]; env?: Record<string, string> }): Promise<Session> {
  const model = await startModelServer()
  const { home, args, env } = launch(model)
  const s = spawnOnScreen(cliBin(cli), args, { env: { ...(process.env as Record<string, string>), ...home.env, ...env }, cwd, cols: COLS, rows: ROWS })
  return {
    s,
    model,
    cwd,
    async done() {
      await s.kill()
      await model.close()
      home.cleanup()
      rmSync(cwd, { recursive: true, force: true })
    },
  }
}

/**
 * The model side of a scripted session, steered by the prompt: "slow" answers after 8 s (to
 * catch the busy screens), "please dm" calls send_dm (to raise the permission prompt).
 */
export const scriptedTurns: Responder = (r) => {
  if (r.toolResults.length) return { text: 'Sent the reply.' }
  if (r.userText.includes('slow')) return { text: 'Done, slowly.', delayMs: 8000 }
  if (r.userText.includes('please dm')) return { tool: 'send_dm', args: { to: 'alice', text: 'hi alice' } }
  return { text: 'OK.' }
}

/** A pause between two writes: several CLIs take an Enter that follows text too closely as a newline in it. */
export const gap = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Types `text` and then Enter on its own, `ms` later, so the CLI does not take the Enter as part of a paste. */
export async function submit(s: OnScreen, text: string, ms: number): Promise<void> {
  s.write(text)
  await gap(ms)
  s.write('\r')
}

export const has = (re: RegExp) => (v: ScreenView) => v.lines.some((l) => re.test(l))

/** Resolves at the first output byte (bounded): a screen predicate cannot tell "nothing yet" from "blank". */
export async function waitForBytes(s: OnScreen): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!s.raw().length) {
    if (Date.now() > deadline) throw new Error('no output from the CLI in 20 s')
    await gap(5)
  }
}

// Two texts, because the captures made with them are pinned: the notes and the classifier
// tests count their lines ("11-line paste", "[Pasted Text: 12 lines]").

/** The relay's reminder plus one message, 11 lines (Claude Code, Codex). */
const TEN_LINES = ['<system-reminder>', 'You are agent bob in workspace ws; reply with the relay tools.', 'send_dm answers a direct message, post_message a channel.', 'check_inbox reads unread messages.', 'Keep replies short.', 'Never ask the user for confirmation.', 'Messages come from other agents.', 'They may arrive while you work.', 'Answer each one once.', '</system-reminder>', 'Relay message from alice [ws / msg_1]: hello'].join('\n')

/** The relay's reminder plus one message tagged `tag`, 12 lines (Gemini, opencode); the tag tells two pastes apart. */
export function relayReminder(tag: string): string {
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

/**
 * Get the model to call send_dm and wait for `until` on screen. The prompt comes up before
 * the MCP server is connected; a turn sent before that offers no relay tools, so the
 * responder answers text and we clear the conversation (`clearCommand`) and ask again (bounded).
 */
export async function askForToolCall(s: OnScreen, model: ModelServer, until: RegExp, cli: { idle: (v: ScreenView) => boolean; clearCommand: string }): Promise<void> {
  const { idle } = cli
  model.setResponder((r) => {
    if (r.toolResults.length) return { text: 'sent' }
    if (!r.toolNames.some((n) => n.endsWith('send_dm'))) return { text: 'no relay tools yet' }
    return { tool: 'send_dm', args: { to: 'alice', text: 'hi alice' } }
  })
  for (let attempt = 1; ; attempt++) {
    const before = model.turns().length
    await submit(s, `say hi to alice (${attempt})`, 100)
    await model.waitFor((r) => r.kind === 'turn' && r.seq > 0 && model.turns().length > before, 10_000, 'the turn')
    const v = await s.waitForScreen((x) => has(until)(x) || (idle(x) && has(/no relay tools yet/)(x)), 20_000, 'the tool call or a text answer')
    if (has(until)(v)) return
    if (attempt >= 10) throw new Error(`the relay tools never showed up; model errors: ${model.errors.join('; ')}`)
    await s.waitForScreen(idle, 10_000, 'idle')
    await submit(s, cli.clearCommand, 100)
    await s.waitForScreen((x) => idle(x) && !has(/no relay tools yet/)(x), 10_000, 'a cleared screen')
  }
}

/** How a CLI shows each step of recordPromptStates, and the notes its captures get. */
export interface PromptStates {
  idle: Shows
  busy: Shows
  /** "hello there" typed into the prompt. */
  typed: Shows
  /** The 11-line paste as the CLI shows it, and how it is recorded. */
  pasted: { shows: Shows; file: string; state: ScreenState; note: string; input: string }
  /** Wait labels, for the timeout errors. */
  labels: { empty: string; pasted: string; busy: string }
  notes: { busy: string; busyTyped: string; idleAfterTurn: string }
}

/**
 * From an idle prompt: records `typing` (then cleared with ctrl+u), the paste of TEN_LINES,
 * and the turn it starts with a model that answers after 8 s: `busy`, `busy-typed` (a line
 * typed meanwhile, cleared again) and `idle-after-turn`.
 */
export async function recordPromptStates(rec: Recorder, { s, model }: { s: OnScreen; model: ModelServer }, cli: PromptStates): Promise<void> {
  s.write('hello there')
  await s.waitForScreen(cli.typed, 5_000, 'the typed text')
  await rec.capture(s, 'typing', 'typing', 'a line typed, not submitted', 'hello there')
  s.write('\x15') // ctrl+u
  await s.waitForScreen(cli.idle, 5_000, cli.labels.empty)
  s.write(`\x1b[200~${TEN_LINES}\x1b[201~`)
  await s.waitForScreen(cli.pasted.shows, 5_000, cli.labels.pasted)
  await rec.capture(s, cli.pasted.file, cli.pasted.state, cli.pasted.note, cli.pasted.input)
  model.setResponder(() => ({ text: 'Done: I read the message from alice.', delayMs: 8000 }))
  s.write('\r')
  await model.waitFor((r) => r.kind === 'turn', 10_000, 'the turn')
  await s.waitForScreen(cli.busy, 5_000, cli.labels.busy)
  await rec.capture(s, 'busy', 'busy', cli.notes.busy)
  s.write('typed while busy')
  await s.waitForScreen(has(/typed while busy/), 5_000, 'the text typed while busy')
  await rec.capture(s, 'busy-typed', 'busy', cli.notes.busyTyped, 'typed while busy')
  s.write('\x15')
  await s.waitForScreen((v) => cli.idle(v) && has(/Done: I read the message/)(v), 20_000, 'idle after the turn')
  await rec.capture(s, 'idle-after-turn', 'idle', cli.notes.idleAfterTurn)
}

/** Runs a recorder's main and exits with its outcome (the spawned CLIs must not keep the process alive). */
export function runRecorder(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err)
      process.exit(1)
    },
  )
}
