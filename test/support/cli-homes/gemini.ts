import type { CliHomePreparer } from '../cli-rig'

// TODO(rig): seed $HOME for gemini (see agent-clis notes in cli-rig.ts).
export const prepare: CliHomePreparer = () => {
  throw new Error('gemini home not written yet')
}
