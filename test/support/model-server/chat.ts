import type { ApiAdapter } from './index'

// TODO(rig): the chat adapter.
export const adapter: ApiAdapter = {
  api: 'chat',
  matches: () => false,
  handle: async () => {
    throw new Error('chat adapter not written yet')
  },
}
