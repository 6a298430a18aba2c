import type { ApiAdapter } from './index'

// TODO(rig): the anthropic adapter.
export const adapter: ApiAdapter = {
  api: 'anthropic',
  matches: () => false,
  handle: async () => {
    throw new Error('anthropic adapter not written yet')
  },
}
