import type { ApiAdapter } from './index'

// TODO(rig): the responses adapter.
export const adapter: ApiAdapter = {
  api: 'responses',
  matches: () => false,
  handle: async () => {
    throw new Error('responses adapter not written yet')
  },
}
