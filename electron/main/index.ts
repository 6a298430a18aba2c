/**
 * Electron main entry: wires the host to a window, the tray and IPC. Decisions live in
 * the modules it imports (each tested with electron mocked); this file only orders them.
 */
import { join } from 'node:path'
import { BrowserWindow, app, dialog, ipcMain, session } from 'electron'
import { createHost } from '../host'
import { registerIpc } from './ipc'
import { createQuitFlow, parseLaunchFlags } from './lifecycle'
import { rendererLocation } from './renderer-location'
import { createTray, type TrayController } from './tray'
import { createMainWindow, hardenSession, revealWindow } from './window'

const log = (message: string, detail?: unknown): void => {
  if (detail === undefined) console.log(`[relay] ${message}`)
  else console.log(`[relay] ${message}`, detail)
}
const hostLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string): void => {
  console[level](`[relay:host] ${message}`)
}

// A second copy would start a second host on the same data dir and fight over agents.
if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  main()
}

function main(): void {
  const flags = parseLaunchFlags(process.argv)
  const host = createHost({ dataDir: app.getPath('userData'), log: hostLog })
  const renderer = rendererLocation({
    // Set by `electron-vite dev` only; a packaged app always loads its own files.
    devServerUrl: app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL,
    indexFile: join(__dirname, '../renderer/index.html'),
  })
  const quitFlow = createQuitFlow({ stopHost: () => host.stop(), quit: () => app.quit(), log })
  let win: BrowserWindow | null = null
  let tray: TrayController | null = null

  const showWindow = (): void => {
    if (!win || win.isDestroyed()) {
      win = createMainWindow({
        preload: join(__dirname, '../preload/index.js'),
        renderer,
        closeToTray: () => true,
        isQuitting: quitFlow.isQuitting,
        log,
      })
      win.on('closed', () => (win = null))
      return
    }
    revealWindow(win)
  }

  // Both can fire before `ready`, when no window may be created yet.
  app.on('second-instance', () => app.isReady() && showWindow())
  app.on('before-quit', (event) => quitFlow.onBeforeQuit(event))
  // A tray app keeps running (and its agents keep working) with no window open.
  app.on('window-all-closed', () => undefined)
  // macOS: clicking the dock icon reopens the window.
  app.on('activate', () => app.isReady() && showWindow())
  app.on('will-quit', () => tray?.destroy())

  app
    .whenReady()
    .then(async () => {
      hardenSession(session.defaultSession, renderer.isAppUrl)
      registerIpc({ ipcMain, host, windows: () => BrowserWindow.getAllWindows(), isAppUrl: renderer.isAppUrl, log })
      tray = createTray({
        host,
        iconDir: app.isPackaged ? join(process.resourcesPath, 'tray') : join(app.getAppPath(), 'build', 'tray'),
        ui: { showWindow: () => showWindow(), quit: () => app.quit() },
        log,
      })
      if (!flags.hidden) showWindow()
      // Start after the UI exists so the window shows "connecting…" instead of nothing.
      await host.start()
    })
    .catch((error: unknown) => {
      log('startup failed', error)
      // A tray app that dies silently looks like it never launched; say why.
      dialog.showErrorBox('Relay could not start', error instanceof Error ? error.message : String(error))
      app.quit()
    })
}
