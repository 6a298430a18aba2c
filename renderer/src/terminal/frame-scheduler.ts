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

/**
 * Right after the current task (one WebSocket batch): chunks that came together are joined
 * into one xterm write, without waiting for a frame. xterm parses and schedules its own
 * render on the next animation frame, so waiting for a frame here too cost a keystroke's
 * echo one extra frame; the host already batches output per frame.
 */
export const microtaskScheduler: FrameScheduler = (callback) => queueMicrotask(callback)

/**
 * After the next paint: store updates (React renders of the agent list and the feed) run
 * in the task that follows a frame instead of inside it, so a frame that carries a
 * terminal's echo is not held back by them.
 */
export const afterPaintScheduler: FrameScheduler = (callback) => {
  if (typeof document !== 'undefined' && document.hidden) {
    setTimeout(callback, 100)
    return
  }
  requestAnimationFrame(() => {
    const channel = new MessageChannel()
    channel.port1.onmessage = () => {
      channel.port1.close()
      callback()
    }
    channel.port2.postMessage(null)
  })
}
