import type { ScreenClassifier } from '../types'

// TODO(rig): written against test/fixtures/screens/codex/.
export const codexClassifier: ScreenClassifier = () => ({ state: 'unknown' })
