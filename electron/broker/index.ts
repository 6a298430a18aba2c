export * from './broker'
export { EngineApi, EngineApiError } from './engine-api'
export { deriveNodeId, resolveIdentity, loadCachedToken, saveCachedToken, tokenCachePath } from './identity'
export type { ConnectionState } from './node-client'
