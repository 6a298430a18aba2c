/**
 * Run a program in a real PTY with a headless screen beside it, for recording golden
 * screen captures and for tests that read a CLI's screen.
 *
 *   const s = spawnOnScreen(cliBin('claude'), args, { env, cwd })
 *   await s.waitForScreen((v) => v.lines.some((l) => l.includes('>')), 20_000, 'the prompt')
 *   s.save(join(FIXTURES, 'claude', 'idle'))   // idle.raw (every byte so far) + idle.txt (the screen)
 *   await s.kill()
 *
 * A capture is the raw byte stream from spawn to the moment of the capture; replaying
 * it into a ScreenModel of the same size gives the same screen. The classifier tests
 * (test/broker/screen-classifiers.test.ts) do exactly that, from captures.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import * as pty from 'node-pty'
import { ScreenModel, type ScreenView } from '../../electron/broker/screen'
import { killTree } from '../../electron/broker/process-tree'

export const SCREEN_FIXTURES = join(__dirname, '..', 'fixtures', 'screens')

export interface OnScreen {
  readonly pid: number
  readonly raw: () => string
  readonly screen: ScreenModel
  write(data: string): void
  view(): Promise<ScreenView>
  /** Resolves with the first settled screen that matches; rejects with the last screen after timeoutMs. */
  waitForScreen(pred: (v: ScreenView) => boolean, timeoutMs: number, what: string): Promise<ScreenView>
  /** Write `<base>.raw` and `<base>.txt` (the rendered screen). */
  save(base: string): Promise<void>
  readonly exited: Promise<number | null>
  kill(): Promise<void>
}

export function spawnOnScreen(
  command: string,
  args: string[],
  opts: { env: Record<string, string>; cwd: string; cols?: number; rows?: number },
): OnScreen {
  const cols = opts.cols ?? 100
  const rows = opts.rows ?? 30
  const chunks: string[] = []
  const changeWaiters = new Set<() => void>()
  const screen = new ScreenModel({ cols, rows, onChange: () => changeWaiters.forEach((w) => w()) })
  const proc = pty.spawn(command, args, { name: 'xterm-256color', cols, rows, cwd: opts.cwd, env: opts.env })
  let exitResolve: (code: number | null) => void = () => undefined
  const exited = new Promise<number | null>((r) => (exitResolve = r))
  let alive = true
  proc.onData((d) => {
    chunks.push(d)
    screen.write(d)
  })
  proc.onExit(({ exitCode }) => {
    alive = false
    exitResolve(exitCode ?? null)
    changeWaiters.forEach((w) => w())
  })
  const view = async () => {
    await screen.settled()
    return screen.view()
  }
  return {
    pid: proc.pid,
    raw: () => chunks.join(''),
    screen,
    write: (d) => proc.write(d),
    view,
    async waitForScreen(pred, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const v = await view()
        if (pred(v)) return v
        const left = deadline - Date.now()
        if (left <= 0 || !alive) {
          throw new Error(`${alive ? `timed out after ${timeoutMs} ms` : 'the program exited'} waiting for ${what}; screen:\n${v.lines.join('\n')}`)
        }
        await new Promise<void>((resolve) => {
          const w = () => {
            clearTimeout(t)
            changeWaiters.delete(w)
            resolve()
          }
          const t = setTimeout(w, Math.min(left, 1000))
          changeWaiters.add(w)
        })
      }
    },
    async save(base) {
      const v = await view()
      mkdirSync(dirname(base), { recursive: true })
      writeFileSync(`${base}.raw`, chunks.join(''))
      writeFileSync(`${base}.txt`, `${v.lines.join('\n')}\n`)
    },
    exited,
    async kill() {
      if (alive) await killTree(proc.pid, 1500)
      screen.dispose()
    },
  }
}
