import type { ScreenClassifier } from '../types'

// TODO(rig): written against test/fixtures/screens/gemini/.
export const geminiClassifier: ScreenClassifier = () => ({ state: 'unknown' })
