export { createHost, defaultUserName, type Host, type HostOptions, type HostPlatform } from './host'
export type { SecretCodec } from './settings'
export { startHeadless, type HeadlessServer } from './serve'
export { defaultDataDir } from './paths'
