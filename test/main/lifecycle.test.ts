import { describe, expect, it, vi } from 'vitest'
import { createQuitFlow, parseLaunchFlags } from '../../electron/main/lifecycle'

function deferred() {
  let resolve!: () => void
  let reject!: (error: Error) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

const quitEvent = () => ({ preventDefault: vi.fn() })

describe('parseLaunchFlags', () => {
  it('reads --hidden', () => {
    expect(parseLaunchFlags(['electron', '.', '--hidden'])).toEqual({ hidden: true })
    expect(parseLaunchFlags(['electron', '.'])).toEqual({ hidden: false })
  })
})

describe('quit flow', () => {
  it('holds the first quit until the host stopped, once, then quits', async () => {
    const stop = deferred()
    const stopHost = vi.fn(() => stop.promise)
    const quit = vi.fn()
    const flow = createQuitFlow({ stopHost, quit, setTimer: () => undefined })
    expect(flow.isQuitting()).toBe(false)

    const first = quitEvent()
    flow.onBeforeQuit(first)
    expect(first.preventDefault).toHaveBeenCalled()
    expect(flow.isQuitting()).toBe(true)
    const again = quitEvent()
    flow.onBeforeQuit(again) // e.g. Cmd+Q pressed twice
    expect(again.preventDefault).toHaveBeenCalled()
    expect(stopHost).toHaveBeenCalledOnce()
    expect(quit).not.toHaveBeenCalled()

    stop.resolve()
    await stop.promise
    await Promise.resolve()
    expect(quit).toHaveBeenCalledOnce()
    // app.quit() re-enters before-quit: this time it must pass.
    const final = quitEvent()
    flow.onBeforeQuit(final)
    expect(final.preventDefault).not.toHaveBeenCalled()
    expect(stopHost).toHaveBeenCalledOnce()
  })

  it('quits anyway when stop fails', async () => {
    const quit = vi.fn()
    const log = vi.fn()
    const flow = createQuitFlow({ stopHost: () => Promise.reject(new Error('engine gone')), quit, log, setTimer: () => undefined })
    flow.onBeforeQuit(quitEvent())
    await vi.waitFor(() => expect(quit).toHaveBeenCalledOnce())
    expect(log).toHaveBeenCalledWith('quit: host.stop failed; quitting anyway', expect.any(Error))
  })

  it('quits anyway when stop hangs past the timeout', () => {
    let fire: () => void = () => undefined
    const quit = vi.fn()
    const flow = createQuitFlow({
      stopHost: () => new Promise(() => undefined),
      quit,
      timeoutMs: 5000,
      setTimer: (fn, ms) => {
        expect(ms).toBe(5000)
        fire = fn
      },
    })
    flow.onBeforeQuit(quitEvent())
    fire()
    expect(quit).toHaveBeenCalledOnce()
  })
})
