/**
 * Leftover agents after a crash. When an agent starts, the host writes
 * `<dataDir>/pids/<agent>.json` with its pid, the process's start time and the command;
 * a clean exit removes it. At the next start, any marker still there belongs to a run
 * that died without stopping its agents: if a process with that pid *and* that start time
 * still exists (a pid alone may have been reused), its tree is killed. On Linux the PTY's
 * whole session is swept too, since children of a dead leader are reparented away from
 * the tree (broomy PR #110 pattern).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { killTree } from '../broker/process-tree'
import { writeJsonAtomic } from './settings'

const markerSchema = z.object({ agent: z.string(), pid: z.number().int().positive(), startTime: z.string(), command: z.string(), writtenAt: z.number() })
export type PidMarker = z.infer<typeof markerSchema>

export interface ProcessProbe {
  /** An opaque start-time token for a live pid, or undefined when no such process exists. */
  startTime(pid: number): string | undefined
  /** Pids in the session led by `sid` (Linux), with their start tokens. */
  sessionMembers(sid: number): Array<{ pid: number; startTime: string }>
  kill(pid: number): Promise<void>
}

/** /proc/<pid>/stat field 22 (starttime, clock ticks since boot) and field 6 (session). */
export function parseProcStat(stat: string): { startTime: string; session: number } | undefined {
  const close = stat.lastIndexOf(')')
  if (close < 0) return undefined
  const rest = stat.slice(close + 2).split(' ')
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const startTime = rest[22 - 3]
  const session = Number(rest[6 - 3])
  if (!startTime || !Number.isFinite(session)) return undefined
  return { startTime, session }
}

export const systemProbe: ProcessProbe = {
  startTime(pid) {
    if (process.platform === 'linux') {
      try {
        return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTime
      } catch {
        return undefined
      }
    }
    if (process.platform === 'win32') return undefined
    try {
      const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], { encoding: 'utf8' }).trim()
      return out || undefined
    } catch {
      return undefined
    }
  },
  sessionMembers(sid) {
    if (process.platform !== 'linux') return []
    const out: Array<{ pid: number; startTime: string }> = []
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const st = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'))
        if (st && st.session === sid) out.push({ pid: Number(entry), startTime: st.startTime })
      } catch {
        // vanished
      }
    }
    return out
  },
  kill: (pid) => killTree(pid, 2000),
}

const fileName = (agent: string) => `${agent.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`

export class PidMarkers {
  constructor(
    private readonly dir: string,
    private readonly probe: ProcessProbe = systemProbe,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  write(agent: string, pid: number, command: string, now = Date.now()): void {
    const startTime = this.probe.startTime(pid)
    if (!startTime) return
    try {
      mkdirSync(this.dir, { recursive: true })
      writeJsonAtomic(join(this.dir, fileName(agent)), { agent, pid, startTime, command, writtenAt: now }, 0o600, false)
    } catch (err) {
      this.log(`could not write the pid marker of ${agent}: ${(err as Error).message}`)
    }
  }

  remove(agent: string): void {
    rmSync(join(this.dir, fileName(agent)), { force: true })
  }

  list(): PidMarker[] {
    let names: string[]
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'))
    } catch {
      return []
    }
    const out: PidMarker[] = []
    for (const n of names) {
      try {
        out.push(markerSchema.parse(JSON.parse(readFileSync(join(this.dir, n), 'utf8'))))
      } catch {
        rmSync(join(this.dir, n), { force: true })
      }
    }
    return out
  }

  /** Kill what an earlier run left behind; returns the agents whose processes were found. */
  async sweep(): Promise<string[]> {
    const found: string[] = []
    for (const m of this.list()) {
      const victims = new Set<number>()
      const leaderStart = this.probe.startTime(m.pid)
      if (leaderStart === m.startTime) victims.add(m.pid)
      // The session's other members, but only when the pid was not reused by another
      // process (Linux never hands out a pid still in use as a session id, so with the
      // leader gone, members of session <pid> are the agent's own orphans).
      if (leaderStart === undefined || leaderStart === m.startTime) {
        for (const member of this.probe.sessionMembers(m.pid)) {
          if (Number(member.startTime) >= Number(m.startTime)) victims.add(member.pid)
        }
      }
      if (victims.size) {
        found.push(m.agent)
        this.log(`agent ${m.agent} (${m.command}) was left running by an earlier run: stopping pids ${[...victims].join(', ')}`)
        await Promise.all([...victims].map((pid) => this.probe.kill(pid).catch(() => undefined)))
      }
      this.remove(m.agent)
    }
    return found
  }
}
