/**
 * The bridge: the renderer's one way to the host. Inside Electron it is the preload's
 * `window.relay`; in a plain browser (headless mode) it is a WebSocket to the page's host.
 */
import { createElectronBridge } from './electron'
import { ipcSocketUrl, resolveToken } from './token'
import { createWebSocketBridge } from './websocket'
import type { Bridge } from './types'

export type { Bridge, BridgeEventListener } from './types'
export type { RelayPreload } from './electron'
export type { SocketLike, WebSocketBridge, WebSocketBridgeOptions } from './websocket'
export { BridgeError, errorMessage } from './errors'
export { createElectronBridge } from './electron'
export { createWebSocketBridge } from './websocket'
export { ipcSocketUrl, resolveToken } from './token'

export function createBridge(): Bridge {
  if (window.relay) return createElectronBridge(window.relay)
  const storage = safeSessionStorage()
  const token = resolveToken(window.location.search, storage)
  if (!token) console.warn('[bridge] no ?token= in the URL; open the URL the host printed')
  return createWebSocketBridge({ url: ipcSocketUrl(window.location, token) })
}

function safeSessionStorage(): Storage | undefined {
  try {
    return window.sessionStorage
  } catch {
    return undefined
  }
}
