import type { ScreenClassifier } from '../types'

// TODO(rig): written against test/fixtures/screens/opencode/.
export const opencodeClassifier: ScreenClassifier = () => ({ state: 'unknown' })
