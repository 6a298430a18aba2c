/**
 * Electron main entry: wires the host to a window, the tray, notifications and IPC.
 * Decisions live in the modules it imports (each tested with electron mocked); this file
 * only orders them.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { BrowserWindow, Notification, app, dialog, ipcMain, safeStorage, session } from 'electron'
import { createHost } from '../host'
import { applyStartAtLogin } from './autostart'
import { registerIpc } from './ipc'
import { createQuitFlow, parseLaunchFlags } from './lifecycle'
import { relayCliArgs, runRelayCli } from './relay-cli'
import { createNativeNotifier } from './notifications'
import { rendererLocation } from './renderer-location'
import { safeStorageCodec } from './secrets'
import { createTray, type TrayController } from './tray'
import { createMainWindow, hardenSession, revealWindow } from './window'

const log = (message: string, detail?: unknown): void => {
  if (detail === undefined) console.log(`[relay] ${message}`)
  else console.log(`[relay] ${message}`, detail)
}
const hostLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string): void => {
  console[level](`[relay:host] ${message}`)
}

const relayArgs = relayCliArgs(process.argv)
if (relayArgs) {
  // An agent's `relay` call (or its MCP server): no window, no tray, no lock.
  void runRelayCli(relayArgs, {
    hideDock: () => app.dock?.hide(),
    run: async (args) => (await import('../agent-tools/cli')).main(args),
  })
} else if (!app.requestSingleInstanceLock()) {
  // A second copy would start a second host on the same data dir and fight over agents.
  app.quit()
} else {
  main()
}

function main(): void {
  const flags = parseLaunchFlags(process.argv)
  let win: BrowserWindow | null = null
  let tray: TrayController | null = null

  const host = createHost({
    dataDir: app.getPath('userData'),
    log: hostLog,
    appVersion: app.getVersion(),
    // safeStorage is usable only after `ready`; the codec is looked up on each key use.
    secretCodec: () => (app.isReady() ? safeStorageCodec(safeStorage) : undefined),
    platform: {
      mode: 'electron',
      nativeNotifications: true,
      async pickDirectory(defaultPath) {
        const options = { properties: ['openDirectory', 'createDirectory'] as Array<'openDirectory' | 'createDirectory'>, defaultPath }
        const result = win && !win.isDestroyed() ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options)
        return result.canceled ? null : (result.filePaths[0] ?? null)
      },
      applyStartAtLogin(enabled) {
        applyStartAtLogin(enabled, {
          platform: process.platform,
          env: process.env,
          home: homedir(),
          execPath: process.execPath,
          // Unpackaged, the Electron binary needs the app folder as its first argument.
          args: app.isPackaged ? [] : [app.getAppPath()],
          setLoginItemSettings: (s) => app.setLoginItemSettings(s),
          writeFile: (p, d) => writeFileSync(p, d, { mode: 0o644 }),
          removeFile: (p) => rmSync(p, { force: true }),
          mkdir: (p) => mkdirSync(p, { recursive: true }),
        })
      },
    },
  })

  const renderer = rendererLocation({
    // Set by `electron-vite dev` only; a packaged app always loads its own files.
    devServerUrl: app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL,
    indexFile: join(__dirname, '../renderer/index.html'),
  })
  const quitFlow = createQuitFlow({ stopHost: () => host.stop(), quit: () => app.quit(), log })

  /** Shows the window; `then` runs once its renderer can receive events. */
  const showWindow = (then?: () => void): void => {
    if (!win || win.isDestroyed()) {
      const created = createMainWindow({
        preload: join(__dirname, '../preload/index.js'),
        renderer,
        closeToTray: () => host.settings().closeToTray,
        isQuitting: quitFlow.isQuitting,
        log,
      })
      win = created
      created.on('closed', () => (win = null))
      if (then) created.webContents.once('did-finish-load', then)
      return
    }
    revealWindow(win)
    then?.()
  }
  const ui = {
    showWindow: () => showWindow(),
    focusAgent: (name: string) => showWindow(() => host.broadcast('ui.focusAgent', { name })),
    openSpawn: () => showWindow(() => host.broadcast('ui.openSpawn', {})),
    openSettings: () => showWindow(() => host.broadcast('ui.openSettings', {})),
    quit: () => app.quit(),
  }

  const notifier = createNativeNotifier({
    isSupported: () => Notification.isSupported(),
    create: (o) => new Notification(o),
    open: (agent) => (agent ? ui.focusAgent(agent) : ui.showWindow()),
  })
  host.onEvent((event, payload) => {
    if (event === 'notification') notifier.show(payload as Parameters<typeof notifier.show>[0])
  })

  // Both can fire before `ready`, when no window may be created yet.
  app.on('second-instance', () => app.isReady() && showWindow())
  app.on('before-quit', (event) => quitFlow.onBeforeQuit(event))
  // A tray app keeps running (and its agents keep working) with no window open.
  app.on('window-all-closed', () => {
    if (!host.settings().closeToTray) app.quit()
  })
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
        ui,
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
