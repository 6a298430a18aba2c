import type { CliHomePreparer } from '../cli-rig'

// TODO(rig): seed $HOME for codex (see agent-clis notes in cli-rig.ts).
export const prepare: CliHomePreparer = () => {
  throw new Error('codex home not written yet')
}
