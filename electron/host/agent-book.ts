/**
 * The agents this app runs, remembered across restarts: name, command, args, folder,
 * channels and whether to respawn it at start. One small JSON file, rewritten on every
 * change (changes are rare: a spawn, a remove).
 */
import { existsSync, readFileSync, renameSync } from 'node:fs'
import { z } from 'zod'
import { writeJsonAtomic } from './settings'

export const agentRecordSchema = z.object({
  name: z.string(),
  command: z.string(),
  args: z.array(z.string()).default([]),
  cwd: z.string(),
  channels: z.array(z.string()).default([]),
  restart: z.boolean().default(false),
  createdAt: z.number().default(0),
  /** The agent's own git worktree, when it was spawned with one. */
  worktree: z.object({ path: z.string(), branch: z.string(), baseCommit: z.string(), repoRoot: z.string() }).optional(),
})
export type AgentRecord = z.output<typeof agentRecordSchema>

const fileSchema = z.object({ version: z.literal(1), agents: z.array(agentRecordSchema) })

export class AgentBook {
  private readonly records = new Map<string, AgentRecord>()

  constructor(
    private readonly path: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    if (!existsSync(path)) return
    try {
      const parsed = fileSchema.parse(JSON.parse(readFileSync(path, 'utf8')))
      for (const r of parsed.agents) this.records.set(r.name, r)
    } catch (err) {
      const aside = `${path}.corrupt-${Date.now()}`
      renameSync(path, aside)
      this.log(`${path} could not be read (${(err as Error).message}); moved it to ${aside}`)
    }
  }

  list(): AgentRecord[] {
    return [...this.records.values()]
  }

  get(name: string): AgentRecord | undefined {
    return this.records.get(name)
  }

  upsert(record: AgentRecord): void {
    this.records.set(record.name, record)
    this.save()
  }

  remove(name: string): boolean {
    const had = this.records.delete(name)
    if (had) this.save()
    return had
  }

  private save(): void {
    try {
      writeJsonAtomic(this.path, { version: 1, agents: this.list() }, 0o600)
    } catch (err) {
      this.log(`could not save the agent list: ${(err as Error).message}`)
    }
  }
}

/**
 * Arguments that resume the CLI's last session in that folder, where the CLI has such a
 * flag; other commands start fresh. Applied when an agent is respawned, not on first spawn.
 */
export function resumeArgs(command: string, args: readonly string[]): string[] {
  const cli = command.split(/[\\/]/).pop() ?? command
  const has = (...flags: string[]) => args.some((a) => flags.includes(a))
  switch (cli) {
    case 'claude':
      return has('--continue', '-c', '--resume', '-r') ? [...args] : ['--continue', ...args]
    case 'codex':
      return args[0] === 'resume' ? [...args] : ['resume', '--last', ...args]
    case 'gemini':
      return has('--resume', '-r') ? [...args] : [...args]
    default:
      return [...args]
  }
}
