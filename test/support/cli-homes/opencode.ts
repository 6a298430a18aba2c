import type { CliHomePreparer } from '../cli-rig'

// TODO(rig): seed $HOME for opencode (see agent-clis notes in cli-rig.ts).
export const prepare: CliHomePreparer = () => {
  throw new Error('opencode home not written yet')
}
