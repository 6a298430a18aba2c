/** Runs a callback on the next paint; injected so tests flush frames by hand. */
export type FrameScheduler = (callback: () => void) => void

/**
 * requestAnimationFrame does not fire while the window is hidden (closed to the tray), so
 * fall back to a slow timer there: the bytes still reach xterm's buffer and the terminal
 * is current when the window comes back.
 */
export const animationFrameScheduler: FrameScheduler = (callback) => {
  if (typeof document !== 'undefined' && document.hidden) {
    setTimeout(callback, 100)
    return
  }
  requestAnimationFrame(() => callback())
}
