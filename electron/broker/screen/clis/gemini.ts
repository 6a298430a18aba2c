/**
 * Gemini CLI (0.61.0) screens, written against test/fixtures/screens/gemini/.
 *
 * Layout (inline, no alternate screen): history (header "Gemini CLI vX", tips, `> user`
 * lines, `✦ answer` lines) / a spinner line `⠋ Thinking... (esc to cancel, 3s)` while busy /
 * a full-width `────` rule / ` Shift+Tab to accept edits … 1 MCP server` / ` > input` (more
 * input lines indented 3) / ` workspace (/directory) … sandbox … /model` footer.
 *
 * Starting: the input box is drawn ~0.5–1 s before the config is initialized, and in that
 * window the history area is empty (not even the header; only terminal warnings and
 * `? for shortcuts`). Keys written before the box are lost; an Enter written while the box
 * has no header above it is dropped (the text stays and merges with the next message).
 * Once the header is up, a prompt submitted while MCP servers still connect is queued
 * ("Waiting for MCP servers to initialize…", "Queued (press ↑ to edit):") and sent when they
 * are ready — shown as `starting` while the queue is on screen.
 */
import type { ScreenClassifier, ScreenReading, ScreenView } from '../types'

const RULE = /^─{20,}$/
const PROMPT = /^ > /
const FOOTER = /^ workspace \(|\bno sandbox\b|\bsandbox\b.*\/model\s*$/
const BUSY = /\(esc to cancel\b/
const PERMISSION = /Action Required|Allow execution of|Apply this change\?|Do you want to proceed\?/
const DIALOGS: RegExp[] = [
  /Do you trust the files in this folder\?/,
  /How would you like to authenticate[^?]*\?/,
  /Select Theme/,
  /Waiting for auth/,
  /Gemini CLI update available|Do you want to (?:restart|update)[^?]*\?/,
]

const unbox = (l: string) => l.replace(/^\s*[│┃]\s?/, '').replace(/\s*[│┃]\s*$/, '').trim()

/** Lines above the rule that are not only terminal warnings, shortcut hints or blank. */
function hasHistory(lines: string[]): boolean {
  let inWarning = false
  for (const l of lines) {
    if (!l.trim()) {
      inWarning = false
      continue
    }
    if (/^\s*⚠/.test(l)) {
      inWarning = true
      continue
    }
    if (inWarning && /^\s{2,}\S/.test(l)) continue
    inWarning = false
    if (/^\s*\? for shortcuts$/.test(l) || /^\s*Press Ctrl\+\S+ to /.test(l)) continue
    return true
  }
  return false
}

export const geminiClassifier: ScreenClassifier = (view: ScreenView): ScreenReading => {
  const { lines, solid } = view
  if (!lines.some((l) => l.trim())) return { state: 'starting' }

  const permission = lines.find((l) => PERMISSION.test(l))
  if (permission) {
    const q = lines.map(unbox).find((l) => /\?$/.test(l) && /Allow|Apply|proceed/.test(l))
    return { state: 'permission', detail: q ?? unbox(permission) }
  }
  for (const re of DIALOGS) {
    const hit = lines.find((l) => re.test(l))
    if (hit) return { state: 'dialog', detail: re.exec(hit)?.[0] ?? unbox(hit) }
  }
  if (lines.some((l) => BUSY.test(l))) return { state: 'busy' }

  let rule = -1
  for (let i = lines.length - 1; i >= 0; i--) {
    if (RULE.test(lines[i])) {
      rule = i
      break
    }
  }
  let prompt = -1
  for (let i = rule + 1; i < lines.length; i++) {
    if (PROMPT.test(lines[i])) {
      prompt = i
      break
    }
  }
  if (rule < 0 || prompt < 0) return { state: lines.some((l) => /Tips for getting started|Gemini CLI v\d/.test(l)) ? 'unknown' : 'starting' }
  if (!hasHistory(lines.slice(0, rule))) return { state: 'starting' }
  if (lines.some((l) => /^\s*Queued \(press/.test(l))) return { state: 'starting', detail: 'prompt queued until MCP servers are ready' }

  let end = lines.length
  for (let i = prompt + 1; i < lines.length; i++) {
    if (FOOTER.test(lines[i])) {
      end = i
      break
    }
  }
  const parts = solid.slice(prompt, end).map((l, i) => (i === 0 ? l.replace(/^ >\s?/, '') : l.replace(/^ {3}/, '')).trimEnd())
  while (parts.length && !parts[parts.length - 1].trim()) parts.pop()
  const input = parts.join('\n').trim()
  if (!input) return { state: 'idle' }
  if (/\[Pasted Text: \d+ lines?\]/.test(input)) return { state: 'paste_pending', input }
  return { state: 'typing', input }
}
