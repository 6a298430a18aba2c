/**
 * What an agent CLI's screen says about it, read from the rendered screen (a headless
 * terminal), not from raw bytes: TUIs redraw in place, so only the screen is the truth.
 */

/**
 * - `starting`: the CLI has not shown an input prompt yet, or says it is still loading
 *   (text typed now may be discarded).
 * - `idle`: the input prompt is shown and empty (placeholder/hint text does not count);
 *   a message typed now is taken at once.
 * - `typing`: the input prompt holds text that was not submitted.
 * - `paste_pending`: the input holds a paste placeholder (`[Pasted text #1 +12 lines]`)
 *   that was not submitted.
 * - `busy`: the model is working on a turn (spinner, "esc to interrupt").
 * - `permission`: the CLI asks the user to approve a tool call.
 * - `dialog`: any other modal question (trust this folder, onboarding, a notice that
 *   needs a key); typing into it would answer it.
 * - `unknown`: none of the above could be told (a plain program, or a screen the
 *   classifier does not know).
 */
export type ScreenState = 'starting' | 'idle' | 'typing' | 'paste_pending' | 'busy' | 'permission' | 'dialog' | 'unknown'

/** One rendered screen. Rows are the visible viewport, right-trimmed. */
export interface ScreenView {
  cols: number
  rows: number
  lines: string[]
  /**
   * The same rows with faint cells blanked to spaces: dim (SGR 2), "bright black" (90 /
   * palette 8) and grey 256-colour or RGB foregrounds. Placeholders and hints are drawn
   * faint; what the user (or the relay) typed is not.
   */
  solid: string[]
  cursorX: number
  cursorY: number
}

export interface ScreenReading {
  state: ScreenState
  /** A short human line: the question a dialog asks, what a permission prompt wants. */
  detail?: string
  /** The text in the input prompt (solid only), when the classifier can tell. */
  input?: string
}

export type ScreenClassifier = (view: ScreenView) => ScreenReading
