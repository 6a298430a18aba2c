/**
 * One agent in a real PTY: spawn, output batching, scrollback, user input tracking,
 * resize and tree-kill. It knows nothing of the relay: the injector drives it.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import * as pty from 'node-pty'
import { killTree } from './process-tree'

export interface AgentSpawnSpec {
  name: string
  command: string
  args: string[]
  cwd: string
  env: Record<string, string>
  cols?: number
  rows?: number
}

export interface AgentExit {
  exitCode: number | null
  signal?: number
}

/** Resolve a command the way a shell would, so "not found" is a clear error, not a dead PTY. */
export function resolveCommand(command: string, envPath = process.env.PATH ?? '', cwd = process.cwd()): string | undefined {
  const isExec = (p: string) => {
    try {
      accessSync(p, constants.X_OK)
      return statSync(p).isFile()
    } catch {
      return false
    }
  }
  if (command.includes('/')) {
    const p = isAbsolute(command) ? command : resolve(cwd, command)
    return isExec(p) ? p : undefined
  }
  for (const dir of envPath.split(delimiter)) {
    if (!dir) continue
    const p = join(dir, command)
    if (isExec(p)) return p
  }
  return undefined
}

/** Keeps the last `limit` characters of output, so a terminal opened later can replay them. */
export class Scrollback {
  private chunks: string[] = []
  private size = 0
  constructor(private readonly limit = 512 * 1024) {}
  append(data: string): void {
    this.chunks.push(data)
    this.size += data.length
    if (this.size > this.limit * 2) this.compact()
  }
  private compact(): void {
    const all = this.chunks.join('')
    const kept = all.slice(all.length - this.limit)
    this.chunks = [kept]
    this.size = kept.length
  }
  text(): string {
    this.compact()
    return this.chunks[0] ?? ''
  }
}

export interface AgentRuntimeEvents {
  /** Raw PTY data, as it arrives (the injector's echo check needs it without delay). */
  onData?: (data: string) => void
  /** Output batched for the UI (~one frame). */
  onOutput?: (data: string) => void
  onExit?: (exit: AgentExit) => void
}

export const OUTPUT_BATCH_MS = 16
/**
 * A batch is flushed at once when it reaches this size (Hyper: 16 ms / 200 KB), so a flood
 * (`cat` of a big file) reaches the UI as bounded chunks instead of one string per frame
 * that grows with the PTY's throughput.
 */
export const OUTPUT_BATCH_MAX = 200 * 1024

export class AgentRuntime {
  readonly name: string
  readonly pid: number
  readonly scrollback = new Scrollback()
  private readonly proc: pty.IPty
  private batch = ''
  private batchTimer: NodeJS.Timeout | undefined
  private paused = false
  private exited: AgentExit | undefined
  private readonly exitWaiters: Array<(e: AgentExit) => void> = []
  /** When the user last typed, and whether a line they started is still open. */
  lastUserInputAt = 0
  userLineOpen = false

  constructor(spec: AgentSpawnSpec, private readonly events: AgentRuntimeEvents = {}) {
    this.name = spec.name
    this.proc = pty.spawn(spec.command, spec.args, {
      name: 'xterm-256color',
      cols: spec.cols ?? 100,
      rows: spec.rows ?? 30,
      cwd: spec.cwd,
      env: spec.env,
    })
    this.pid = this.proc.pid
    this.proc.onData((data) => {
      this.scrollback.append(data)
      this.events.onData?.(data)
      // Leading-edge throttle: a quiet terminal's first bytes go out at once (what the
      // user is waiting to see); a chatty one is held to one event per frame.
      if (!this.batchTimer) {
        this.events.onOutput?.(data)
        this.batchTimer = setTimeout(() => this.tick(), OUTPUT_BATCH_MS)
      } else {
        this.batch += data
        if (this.batch.length >= OUTPUT_BATCH_MAX) {
          const out = this.batch
          this.batch = ''
          this.events.onOutput?.(out)
        }
      }
    })
    this.proc.onExit(({ exitCode, signal }) => {
      this.flush()
      this.exited = { exitCode: exitCode ?? null, signal: signal || undefined }
      this.events.onExit?.(this.exited)
      for (const w of this.exitWaiters.splice(0)) w(this.exited)
    })
  }

  private tick(): void {
    this.batchTimer = undefined
    if (!this.batch) return
    const out = this.batch
    this.batch = ''
    this.events.onOutput?.(out)
    this.batchTimer = setTimeout(() => this.tick(), OUTPUT_BATCH_MS)
  }

  /** Emit batched output now (before a snapshot, so the snapshot never precedes its own bytes). */
  flush(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    if (!this.batch) return
    const out = this.batch
    this.batch = ''
    this.events.onOutput?.(out)
  }

  get alive(): boolean {
    return this.exited === undefined
  }

  /**
   * Flow control: stop reading the PTY (its program blocks once the kernel buffer fills)
   * until `resumeOutput()`. For a viewer that fell behind; writes still go through.
   */
  pauseOutput(): void {
    if (this.paused || !this.alive) return
    this.paused = true
    this.proc.pause()
  }

  resumeOutput(): void {
    if (!this.paused) return
    this.paused = false
    if (this.alive) this.proc.resume()
  }

  get outputPaused(): boolean {
    return this.paused
  }

  /** Bytes from the relay (injections). Throws if the agent has exited. */
  write(data: string): void {
    if (!this.alive) throw new Error(`agent ${this.name} has exited`)
    this.proc.write(data)
  }

  /** Keystrokes from the user's terminal view; tracked so injections never interleave. */
  writeUser(data: string, now = Date.now()): void {
    this.write(data)
    this.lastUserInputAt = now
    // Enter, Ctrl-C or Ctrl-U close the line the user was typing.
    this.userLineOpen = !/[\r\n\x03\x15]$/.test(data)
  }

  resize(cols: number, rows: number): void {
    if (this.alive) this.proc.resize(cols, rows)
  }

  waitForExit(): Promise<AgentExit> {
    if (this.exited) return Promise.resolve(this.exited)
    return new Promise((r) => this.exitWaiters.push(r))
  }

  /** SIGTERM the whole process tree, SIGKILL after `graceMs`; resolves once the PTY child exited. */
  async stop(graceMs = 2000): Promise<AgentExit> {
    if (!this.alive) return this.exited as AgentExit
    await killTree(this.pid, graceMs)
    return this.waitForExit()
  }
}
