/**
 * Screen-state detection for agent CLIs: a headless terminal per agent and, per CLI, a
 * classifier written against golden captures of that CLI's real screens
 * (test/fixtures/screens/<cli>/, re-recorded when a pinned version moves).
 */
import { claudeClassifier } from './clis/claude'
import { codexClassifier } from './clis/codex'
import { geminiClassifier } from './clis/gemini'
import { opencodeClassifier } from './clis/opencode'
import type { ScreenClassifier } from './types'

export * from './types'
export { ScreenModel, isFaint } from './screen-model'

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
