/**
 * Screen-state detection for agent CLIs: a headless terminal per agent and, per CLI, a
 * classifier written against golden captures of that CLI's real screens
 * (test/fixtures/screens/<cli>/, re-recorded when a pinned version moves).
 */
import { claudeClassifier } from './clis/claude'
import { codexClassifier } from './clis/codex'
import { geminiClassifier } from './clis/gemini'
import { opencodeClassifier } from './clis/opencode'
import type { TypingProfile } from '../screen-typing'
import type { ScreenClassifier } from './types'

export * from './types'
export { ScreenModel, isFaint } from './screen-model'
export { AgentScreen, SCREEN_THROTTLE_MS } from './agent-screen'

const CLASSIFIERS: Record<string, ScreenClassifier> = {
  claude: claudeClassifier,
  codex: codexClassifier,
  gemini: geminiClassifier,
  opencode: opencodeClassifier,
}

/** The classifier for a CLI's basename, or undefined for a program we cannot read. */
export function classifierFor(cli: string): ScreenClassifier | undefined {
  return CLASSIFIERS[cli]
}

/**
 * How each CLI takes typed text, measured on the pinned versions (the rig's findings):
 * a multi-line message goes in as a bracketed paste when the CLI enabled it, then Enter
 * after a gap the CLI's paste-burst detector lets through.
 */
const TYPING: Record<string, Partial<TypingProfile>> = {
  claude: {},
  // Codex drops an Enter written with the text (one line + Enter in one write is not
  // submitted; 50 ms later is); multi-line text goes as a bracketed paste.
  codex: { enterGapMs: 100 },
  // Gemini takes an Enter within ~40 ms of a key or a paste as a newline (measured 0.61.0:
  // 40–50 ms failed under load, 80 ms and up submitted); a second Enter is safe.
  gemini: { enterGapMs: 150 },
  // opencode shows an idle prompt for a moment between a tool's result and its next
  // model request; a message typed then joined the running turn (seen in CI).
  opencode: { idleSettleMs: 800 },
}

export function typingProfileFor(cli: string): Partial<TypingProfile> | undefined {
  return TYPING[cli]
}
