/**
 * App lifecycle decisions kept out of index.ts so they can be tested without Electron:
 * launch flags and the quit sequence.
 */

export interface LaunchFlags {
  /** Start in the tray without showing the window (used for launch at login). */
  hidden: boolean
}

export function parseLaunchFlags(argv: readonly string[]): LaunchFlags {
  return { hidden: argv.includes('--hidden') }
}

export interface QuitFlowDeps {
  /** Stops agents, deregisters the node and flushes the store. */
  stopHost(): Promise<void>
  /** Calls app.quit(); it re-enters before-quit, which then lets the quit through. */
  quit(): void
  /** If stopping hangs (a wedged agent, an unreachable engine), quit anyway after this. */
  timeoutMs?: number
  log?: (message: string, detail?: unknown) => void
  setTimer?: (fn: () => void, ms: number) => unknown
}

export interface QuitFlow {
  /** Wire to app's `before-quit`. */
  onBeforeQuit(event: { preventDefault(): void }): void
  /** True from the first quit request on; the window then closes instead of hiding. */
  isQuitting(): boolean
}

/**
 * before-quit fires for every quit path (menu, tray, Cmd+Q, OS shutdown). The first one
 * is held until the host has stopped every agent, because agents left running would be
 * orphaned PTY trees; later ones (including our own app.quit()) pass through.
 */
export function createQuitFlow(deps: QuitFlowDeps): QuitFlow {
  let phase: 'running' | 'stopping' | 'stopped' = 'running'
  const log = deps.log ?? (() => undefined)
  const setTimer = deps.setTimer ?? ((fn, ms) => setTimeout(fn, ms))

  const finish = (): void => {
    if (phase === 'stopped') return
    phase = 'stopped'
    deps.quit()
  }

  return {
    isQuitting: () => phase !== 'running',
    onBeforeQuit(event) {
      if (phase === 'stopped') return
      event.preventDefault()
      if (phase === 'stopping') return
      phase = 'stopping'
      setTimer(() => {
        if (phase === 'stopping') log('quit: host did not stop in time; quitting anyway')
        finish()
      }, deps.timeoutMs ?? 10_000)
      deps.stopHost().then(
        () => finish(),
        (error: unknown) => {
          log('quit: host.stop failed; quitting anyway', error)
          finish()
        },
      )
    },
  }
}
