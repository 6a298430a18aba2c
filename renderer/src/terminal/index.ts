export { TerminalRegistry } from './registry'
export { OutputBuffer, type OutputSink } from './output-buffer'
export { animationFrameScheduler, type FrameScheduler } from './frame-scheduler'
export type { TerminalHost } from './types'
