/**
 * Claude Code (classic renderer, 2.1.x), written against test/fixtures/screens/claude/.
 *
 * - The input box is the last pair of full-width `────` rules with the `❯` prompt on the
 *   first row between them; earlier `❯ …` rows above are the transcript's user turns.
 *   The idle prompt shows faint hint text, so the box is read from `solid`.
 * - A paste shows as `[Pasted text #1 +N lines]` in the box.
 * - Busy: a spinner row above the box ending `… esc to interrupt)`.
 * - Permission: "Do you want to proceed?" under the tool call it asks about.
 * - Dialogs (theme picker, API-key approval, folder trust, bypass-permissions warning,
 *   notices with a choice) replace the box and end with a key hint such as
 *   "Enter to confirm · Esc to cancel".
 */
import type { ScreenClassifier, ScreenView } from '../types'

const RULE = /^─{20,}$/
const BUSY = /esc to interrupt/
/** The spinner row above the box: `✻ Wandering…`, `✢ Cogitating… (5s · ↓ 20 tokens)`, `✻ 500 … · retrying in 17s`. */
const SPINNER = /^\s*[✻✢✶✽✳*·]\s+\S.*(…|retrying in)/
const PERMISSION = /Do you want to (proceed|allow|make this edit|create|run)/
const PASTE = /\[Pasted text #\d+(?: \+\d+ lines?)?\]/

/** Dialog questions we know, first match wins (the line shown is the detail). */
const DIALOG_TITLES: RegExp[] = [
  /Do you trust the files in this folder\?|Quick safety check|trust this folder/i,
  /Do you want to use this API key\?|Detected a custom API key/i,
  /Choose the text style|Let's get started/i,
  /Bypass Permissions mode/i,
  /Auto mode can't check actions/i,
  /Try the new fullscreen renderer\?/i,
  /Teach auto mode about your environment\?/i,
]
const DIALOG_KEYS = /Enter to confirm|Enter to continue|Press Enter to continue|Esc to cancel|Esc to exit|Enter to stay/i

function inputBox(view: ScreenView): { top: number; bottom: number } | undefined {
  let bottom = -1
  for (let i = view.lines.length - 1; i >= 0; i--) {
    if (!RULE.test(view.lines[i])) continue
    if (bottom < 0) {
      bottom = i
      continue
    }
    if (/^❯/.test(view.lines[i + 1] ?? '')) return { top: i, bottom }
    bottom = i
  }
  return undefined
}

function dialogTitle(lines: string[]): string | undefined {
  for (const re of DIALOG_TITLES) {
    const hit = lines.find((l) => re.test(l))
    if (hit) return hit.trim()
  }
  return undefined
}

export const claudeClassifier: ScreenClassifier = (view) => {
  const { lines, solid } = view
  const box = inputBox(view)

  const ask = lines.findIndex((l) => PERMISSION.test(l))
  if (ask >= 0 && !box) {
    // The tool line sits a few rows above the question ("agent-relay - send_dm(to: …) (MCP)").
    const tool = lines
      .slice(Math.max(0, ask - 8), ask)
      .map((l) => l.trim())
      .filter((l) => l && !RULE.test(l) && !/^[─╭╰│]/.test(l))
    const what = tool.find((l) => /\(MCP\)|\w+\(/.test(l)) ?? tool[0]
    return { state: 'permission', detail: what ? `${lines[ask].trim()} ${what}` : lines[ask].trim() }
  }

  if (!box) {
    const title = dialogTitle(lines)
    if (title || lines.some((l) => DIALOG_KEYS.test(l))) {
      const fallback = solid.map((l) => l.trim()).find((l) => l && !/^[▐▝▘▛▜█\s]+/.test(l) && !/Claude Code v/.test(l))
      return { state: 'dialog', detail: title ?? fallback }
    }
    // Banner without the box yet, or nothing drawn at all (the first frames after spawn).
    if (lines.some((l) => /Claude Code v\d/.test(l)) || lines.every((l) => !l.trim())) return { state: 'starting' }
    return { state: 'unknown' }
  }

  const rows = solid.slice(box.top + 1, box.bottom)
  const text = rows
    .map((l) => l.slice(2)) // the prompt column (`❯ `, faint while busy) and the continuation indent
    .join('\n')
    .replace(/\s+$/, '')
  const spinner = lines.slice(Math.max(0, box.top - 3), box.top).some((l) => SPINNER.test(l))
  if (spinner || lines.slice(box.bottom).some((l) => BUSY.test(l))) return text ? { state: 'busy', input: text } : { state: 'busy' }
  if (!text) return { state: 'idle' }
  if (PASTE.test(text)) return { state: 'paste_pending', input: text }
  return { state: 'typing', input: text }
}
