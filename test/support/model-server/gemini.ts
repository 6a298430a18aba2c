import type { ApiAdapter } from './index'

// TODO(rig): the gemini adapter.
export const adapter: ApiAdapter = {
  api: 'gemini',
  matches: () => false,
  handle: async () => {
    throw new Error('gemini adapter not written yet')
  },
}
