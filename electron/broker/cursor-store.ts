/**
 * The delivery cursor, persisted (`<stateDir>/cursors.json`), so a restarted broker
 * neither re-types a message it already typed and acked nor skips one it never typed.
 *
 * v5 kept the cursor in memory only (node-protocol.md §4.6). The engine's
 * `delivery_ack_seq` (sent at agent.register to cursor-aware nodes) covers most of
 * it, but not an ack that was typed here and lost on the wire as the broker died: the
 * engine then redelivers it, and only our own record says it was already typed.
 *
 * Entries are keyed by workspace and agent name and carry the engine's agent id: a
 * cursor is reused only for the same identity (a re-created agent starts at 1 again).
 * Writes are atomic (temp file + rename, 0600) and debounced; `flush()` writes now.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { writeFileAtomic } from './files'

const fileSchema = z.object({
  v: z.literal(1),
  agents: z.record(
    z.string(),
    z.object({ agent_id: z.string(), up_to_seq: z.number().int().nonnegative(), at: z.number().optional() }),
  ),
})
type CursorFile = z.infer<typeof fileSchema>

export const CURSOR_FLUSH_DEBOUNCE_MS = 100

export class CursorStore {
  private data: CursorFile = { v: 1, agents: {} }
  private timer: NodeJS.Timeout | undefined
  private dirty = false
  /** Writes done (for tests and diagnostics). */
  writes = 0

  constructor(
    readonly path: string,
    private readonly debounceMs = CURSOR_FLUSH_DEBOUNCE_MS,
    private readonly warn: (msg: string) => void = () => undefined,
  ) {
    try {
      const parsed = fileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
      if (parsed.success) this.data = parsed.data
      else warn(`ignoring unreadable cursor file ${path}`)
    } catch {
      // missing: start empty
    }
  }

  private static key(workspaceId: string, agent: string): string {
    return `${workspaceId}/${agent}`
  }

  /** The persisted cursor for this identity, or undefined (unknown, or another agent id). */
  get(workspaceId: string, agent: string, agentId: string): number | undefined {
    const e = this.data.agents[CursorStore.key(workspaceId, agent)]
    return e && e.agent_id === agentId ? e.up_to_seq : undefined
  }

  /** Record a cursor (never lowers it for the same identity) and schedule a write. */
  set(workspaceId: string, agent: string, agentId: string, upToSeq: number): void {
    const key = CursorStore.key(workspaceId, agent)
    const e = this.data.agents[key]
    if (e && e.agent_id === agentId && e.up_to_seq >= upToSeq) return
    this.data.agents[key] = { agent_id: agentId, up_to_seq: upToSeq, at: Date.now() }
    this.dirty = true
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.debounceMs)
      this.timer.unref?.()
    }
  }

  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (!this.dirty) return
    this.dirty = false
    try {
      writeFileAtomic(this.path, JSON.stringify(this.data))
      this.writes++
    } catch (err) {
      this.dirty = true
      this.warn(`could not persist delivery cursors: ${(err as Error).message}`)
    }
  }

  snapshot(): CursorFile['agents'] {
    return structuredClone(this.data.agents)
  }
}
