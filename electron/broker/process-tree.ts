/**
 * Stopping an agent means stopping everything it started: an interactive shell puts
 * each job in its own process group, so killing the PTY's group alone leaves orphans.
 * We walk the tree (via /proc on Linux, `ps` elsewhere), SIGTERM it, and SIGKILL
 * whatever is left after a grace period.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

function childrenMap(): Map<number, number[]> {
  const map = new Map<number, number[]>()
  const add = (pid: number, ppid: number) => {
    const list = map.get(ppid)
    if (list) list.push(pid)
    else map.set(ppid, [pid])
  }
  if (process.platform === 'linux') {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
        // comm may contain spaces and parens: fields after the last ')'.
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        add(Number(entry), Number(rest[1]))
      } catch {
        // process vanished while reading
      }
    }
    return map
  }
  try {
    const out = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' })
    for (const line of out.split('\n')) {
      const [pid, ppid] = line.trim().split(/\s+/).map(Number)
      if (pid && ppid !== undefined && !Number.isNaN(ppid)) add(pid, ppid)
    }
  } catch {
    // no ps: only the root pid will be signalled
  }
  return map
}

/** The pid and all its descendants, parents first. */
export function processTree(rootPid: number): number[] {
  const children = childrenMap()
  const out: number[] = []
  const queue = [rootPid]
  while (queue.length) {
    const pid = queue.shift() as number
    out.push(pid)
    for (const c of children.get(pid) ?? []) queue.push(c)
  }
  return out
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
  }
}

/**
 * SIGHUP + SIGTERM the whole tree, then SIGKILL survivors after `graceMs`. Resolves when every
 * process is gone (or after the kill, if something unkillable remains).
 */
export async function killTree(rootPid: number, graceMs = 2000): Promise<void> {
  const pids = processTree(rootPid)
  // SIGHUP first, as closing a terminal would: an interactive shell ignores SIGTERM.
  signal(pids, 'SIGHUP')
  signal(pids, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (pids.some(isAlive) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25))
  }
  const survivors = [...new Set([...pids, ...processTree(rootPid)])].filter(isAlive)
  if (survivors.length) signal(survivors, 'SIGKILL')
}
