export { createHost, defaultUserName, type Host, type HostOptions } from './host'
export { startHeadless, type HeadlessServer } from './serve'
export { defaultDataDir } from './paths'
