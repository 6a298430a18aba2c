/**
 * Codex TUI (0.169.x), written against test/fixtures/screens/codex/.
 *
 * - The composer is the last row starting with `›` (earlier `› …` rows are the
 *   transcript's user turns); continuation rows are indented two columns and end at a
 *   blank row above the footer. Its placeholder ("Ask Codex to do anything") is faint,
 *   so the composer is read from `solid`.
 * - A multi-line paste shows as the lines themselves; a large one as
 *   `[Pasted Content N chars]`.
 * - Starting: the header with a "loading" row and no composer yet.
 * - Busy: "• Working (3s • esc to interrupt)" above the composer.
 * - Permission: `Allow the <server> MCP server to run tool "<tool>"?`, or a command
 *   approval ("Would you like to run the following command?").
 * - Dialogs: the folder-trust question ("Trust this folder?", options drawn with `›` like
 *   the composer, key hints "enter continue · esc back") and other full-screen choices.
 */
import type { ScreenClassifier } from '../types'

const PERMISSION = /Allow the .+ MCP server to run tool|Would you like to (run the following command|make the following edits)|Allow command\?/
const DIALOG_TITLES = [/Do you trust the contents of this directory\?|Trust this folder\?|trust this (folder|directory)/i, /Sign in with ChatGPT|Welcome to Codex/i, /Update available/i]
const DIALOG_KEYS = /Press enter to continue|enter (to )?(confirm|continue|select|submit)|esc (to )?(cancel|exit|back)/i
const BUSY = /esc to interrupt/
const PASTE = /\[Pasted Content \d+ chars\]/i

export const codexClassifier: ScreenClassifier = (view) => {
  const { lines, solid } = view

  const ask = lines.find((l) => PERMISSION.test(l))
  if (ask) return { state: 'permission', detail: ask.trim() }

  // A full-screen choice (its options also start with `›`, like the composer): a known
  // question plus its key hint row at the bottom.
  const keys = lines.some((l) => DIALOG_KEYS.test(l)) && !lines.some((l) => /\? for shortcuts/.test(l))
  if (keys) {
    for (const re of DIALOG_TITLES) {
      const hit = lines.find((l) => re.test(l))
      if (hit) return { state: 'dialog', detail: hit.trim() }
    }
  }

  let c = -1
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^›/.test(lines[i])) {
      c = i
      break
    }
  }
  const loading = lines.some((l) => /^\s+loading\b/.test(l))

  if (c < 0 || loading) {
    for (const re of DIALOG_TITLES) {
      const hit = lines.find((l) => re.test(l))
      if (hit) return { state: 'dialog', detail: hit.trim() }
    }
    if (lines.some((l) => DIALOG_KEYS.test(l))) return { state: 'dialog', detail: solid.map((l) => l.trim()).find((l) => l && !/OpenAI Codex/.test(l)) }
    if (loading || lines.some((l) => /OpenAI Codex/.test(l)) || lines.every((l) => !l.trim())) return { state: 'starting' }
    return { state: 'unknown' }
  }

  const rows: string[] = []
  for (let i = c; i < solid.length; i++) {
    if (i > c && !lines[i].trim()) break
    if (i > c && !/^ {2}/.test(lines[i])) break
    // Drop the prompt column and a scroll marker (↑/↓) at the right edge.
    rows.push(solid[i].slice(2).replace(/\s*[↑↓]\s*$/, ''))
  }
  const input = rows.join('\n').replace(/\s+$/, '')
  if (lines.slice(Math.max(0, c - 4), c).some((l) => BUSY.test(l)) || lines.some((l) => /^• Working\b/.test(l))) {
    return input ? { state: 'busy', input } : { state: 'busy' }
  }
  if (!input) return { state: 'idle' }
  if (PASTE.test(input)) return { state: 'paste_pending', input }
  return { state: 'typing', input }
}
