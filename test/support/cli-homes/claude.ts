import type { CliHomePreparer } from '../cli-rig'

// TODO(rig): seed $HOME for claude (see agent-clis notes in cli-rig.ts).
export const prepare: CliHomePreparer = () => {
  throw new Error('claude home not written yet')
}
