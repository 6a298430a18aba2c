/**
 * opencode (1.18.33) screens, written against test/fixtures/screens/opencode/.
 *
 * Full-screen TUI (alternate screen). Nothing is drawn until the whole UI is up (8–15 s
 * on 2 cores). The input box is a column of `┃` lines ending with the agent/model line
 * `┃  Build · <model> <provider>` and a `╹▀▀▀` bottom edge; the placeholder
 * (`Ask anything… "…"`) is faint. History messages use `┃` blocks too, so the input is
 * only the `┃` block right above the agent line. The status row below shows
 * `■■■⬝⬝⬝⬝⬝  esc interrupt` while the model works. A paste shows as `[Pasted ~12 lines]`.
 * Tool approval (only when a `permission` rule says "ask"): `△ Permission required` with
 * `Allow once   Allow always   Reject`. Dialogs (ctrl+p commands, model picker, …) are
 * overlays whose title row ends in `esc`.
 */
import type { ScreenClassifier, ScreenReading, ScreenView } from '../types'

const AGENT_LINE = /^\s*┃\s+\S.* · /
const BOTTOM = /^\s*╹/
const BUSY = /\besc interrupt\b/
const PERMISSION = /△ Permission required|Allow once\s+Allow always\s+Reject/
/** A dialog's title row: `Commands … esc`, `Select model … esc`. */
const DIALOG_TITLE = /^\s*(?:.*?\s{2,})?([A-Z][A-Za-z ]{2,40}?)\s{4,}esc\s*$/

export const opencodeClassifier: ScreenClassifier = (view: ScreenView): ScreenReading => {
  const { lines, solid } = view
  if (!lines.some((l) => l.trim())) return { state: 'starting' }

  const perm = lines.findIndex((l) => PERMISSION.test(l))
  if (perm >= 0) {
    const what = lines.slice(perm, perm + 4).find((l) => /⚙|Tool:/.test(l))
    return { state: 'permission', detail: (what ?? lines[perm]).replace(/^\s*┃\s*/, '').trim() }
  }
  for (const l of lines) {
    const m = DIALOG_TITLE.exec(l)
    if (m) return { state: 'dialog', detail: m[1].trim() }
  }
  if (lines.some((l) => BUSY.test(l))) return { state: 'busy' }

  let agent = -1
  for (let i = lines.length - 2; i >= 0; i--) {
    if (AGENT_LINE.test(lines[i]) && BOTTOM.test(lines[i + 1])) {
      agent = i
      break
    }
  }
  if (agent < 0) return { state: 'unknown' }
  const box: string[] = []
  for (let j = agent - 1; j >= 0 && /^\s*┃/.test(lines[j]); j--) box.unshift(solid[j].replace(/^\s*┃?\s{0,2}/, '').trimEnd())
  while (box.length && !box[0].trim()) box.shift()
  while (box.length && !box[box.length - 1].trim()) box.pop()
  const input = box.join('\n')
  if (!input.trim()) return { state: 'idle' }
  if (/\[Pasted ~?\d+ lines?\]/.test(input)) return { state: 'paste_pending', input }
  return { state: 'typing', input }
}
