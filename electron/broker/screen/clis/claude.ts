import type { ScreenClassifier } from '../types'

// TODO(rig): written against test/fixtures/screens/claude/.
export const claudeClassifier: ScreenClassifier = () => ({ state: 'unknown' })
