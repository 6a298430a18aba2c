/**
 * The app window: locked-down webPreferences, no new windows, no navigation away from
 * the renderer, and close-to-tray. The renderer is treated as untrusted (it renders
 * agent output and relayed messages), so it gets no Node and only the preload bridge.
 */
import { BrowserWindow, shell, type BrowserWindowConstructorOptions, type Session } from 'electron'
import type { RendererLocation } from './renderer-location'

export interface MainWindowOptions {
  preload: string
  renderer: RendererLocation
  /** Read on every close, so a settings change applies without recreating the window. */
  closeToTray: () => boolean
  /** True once the app is quitting: then a close really closes. */
  isQuitting: () => boolean
  /** Start without showing (e.g. launched at login with --hidden). */
  hidden?: boolean
  icon?: string
  log?: (message: string, detail?: unknown) => void
}

export function secureWindowOptions(preload: string, icon?: string): BrowserWindowConstructorOptions {
  return {
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 480,
    show: false,
    title: 'Relay',
    ...(icon ? { icon } : {}),
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      // The remote module no longer exists in Electron (removed in 14), so there is
      // nothing to disable; no option here can bring it back.
    },
  }
}

/** An http(s) URL normalized for the OS browser, or null. Never file:, javascript: or custom schemes. */
export function externalUrl(url: string): string | null {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return null
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null
  // Credentials in a link are a phishing trick ("https://good.com@evil.com"); refuse them.
  if (parsed.username || parsed.password) return null
  return parsed.href
}

function openExternally(url: string): void {
  const safe = externalUrl(url)
  if (safe) void shell.openExternal(safe).catch(() => undefined)
}

export function createMainWindow(options: MainWindowOptions): BrowserWindow {
  const win = new BrowserWindow(secureWindowOptions(options.preload, options.icon))
  const contents = win.webContents

  // Links (including OSC 8 links from agent output in xterm) open in the user's browser;
  // the app itself never gets a second window.
  contents.setWindowOpenHandler(({ url }) => {
    openExternally(url)
    return { action: 'deny' }
  })
  contents.on('will-navigate', (event) => {
    if (options.renderer.isAppUrl(event.url)) return
    event.preventDefault()
    openExternally(event.url)
  })
  // A redirect is a navigation too; the renderer only ever loads its own files.
  contents.on('will-redirect', (event) => {
    if (!options.renderer.isAppUrl(event.url)) event.preventDefault()
  })
  contents.on('will-attach-webview', (event) => event.preventDefault())

  win.on('close', (event) => {
    if (options.closeToTray() && !options.isQuitting()) {
      event.preventDefault()
      win.hide()
    }
  })
  win.once('ready-to-show', () => {
    if (!options.hidden) win.show()
  })

  const target = options.renderer.target
  const loading = 'url' in target ? win.loadURL(target.url) : win.loadFile(target.file)
  loading.catch((error: unknown) => options.log?.('renderer failed to load', error))
  return win
}

/** Brings the window forward, restoring it from the tray or the dock. */
export function revealWindow(win: BrowserWindow): void {
  if (win.isMinimized()) win.restore()
  win.show()
  win.focus()
}

/**
 * Deny every permission request (camera, notifications-from-web, geolocation, ...)
 * except clipboard writes from our own renderer, which terminal copy needs.
 */
export function hardenSession(session: Session, isAppUrl: (url: string) => boolean): void {
  const allowed = new Set(['clipboard-sanitized-write'])
  session.setPermissionRequestHandler((contents, permission, callback) => {
    callback(allowed.has(permission) && isAppUrl(contents.getURL()))
  })
  session.setPermissionCheckHandler((contents, permission) => {
    return allowed.has(permission) && contents !== null && isAppUrl(contents.getURL())
  })
}
