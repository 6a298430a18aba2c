export { TerminalRegistry } from './registry'
export { OutputBuffer, type OutputSink } from './output-buffer'
export { afterPaintScheduler, animationFrameScheduler, microtaskScheduler, type FrameScheduler } from './frame-scheduler'
export type { TerminalHost } from './types'
