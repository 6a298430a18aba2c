import { beforeEach, describe, expect, it, vi } from 'vitest'

type Listener = (...args: any[]) => unknown

const electron = vi.hoisted(() => {
  class FakeWebContents {
    listeners = new Map<string, Listener>()
    openHandler: ((details: { url: string }) => { action: string }) | null = null
    setWindowOpenHandler(handler: (details: { url: string }) => { action: string }) {
      this.openHandler = handler
    }
    on(event: string, listener: Listener) {
      this.listeners.set(event, listener)
      return this
    }
  }
  class FakeBrowserWindow {
    static created: FakeBrowserWindow[] = []
    listeners = new Map<string, Listener>()
    webContents = new FakeWebContents()
    hide = vi.fn()
    show = vi.fn()
    loadURL = vi.fn(async () => undefined)
    loadFile = vi.fn(async () => undefined)
    constructor(public options: any) {
      FakeBrowserWindow.created.push(this)
    }
    on(event: string, listener: Listener) {
      this.listeners.set(event, listener)
      return this
    }
    once(event: string, listener: Listener) {
      return this.on(event, listener)
    }
  }
  return { FakeBrowserWindow, shell: { openExternal: vi.fn(async () => undefined) } }
})

vi.mock('electron', () => ({ BrowserWindow: electron.FakeBrowserWindow, shell: electron.shell }))

import { createMainWindow, externalUrl, hardenSession, secureWindowOptions } from '../../electron/main/window'
import { rendererLocation } from '../../electron/main/renderer-location'

const renderer = rendererLocation({ indexFile: '/app/out/renderer/index.html' })
const APP_URL = 'file:///app/out/renderer/index.html'

function makeWindow(overrides: { closeToTray?: boolean; quitting?: boolean; hidden?: boolean } = {}) {
  createMainWindow({
    preload: '/app/out/preload/index.js',
    renderer,
    closeToTray: () => overrides.closeToTray ?? true,
    isQuitting: () => overrides.quitting ?? false,
    hidden: overrides.hidden,
  })
  return electron.FakeBrowserWindow.created.at(-1)!
}

function navEvent(url: string) {
  return { url, preventDefault: vi.fn() }
}

beforeEach(() => {
  electron.FakeBrowserWindow.created.length = 0
  electron.shell.openExternal.mockClear()
})

describe('window options', () => {
  it('locks the renderer down and sets the preload', () => {
    const win = makeWindow()
    const prefs = win.options.webPreferences
    expect(prefs).toMatchObject({
      preload: '/app/out/preload/index.js',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    })
    expect(prefs).not.toHaveProperty('enableRemoteModule')
    expect(secureWindowOptions('/p').webPreferences).toEqual({ ...prefs, preload: '/p' })
  })

  it('loads the built renderer file, or the dev server URL', () => {
    expect(makeWindow().loadFile).toHaveBeenCalledWith('/app/out/renderer/index.html')
    createMainWindow({
      preload: '/p',
      renderer: rendererLocation({ devServerUrl: 'http://localhost:5173/', indexFile: '/x' }),
      closeToTray: () => true,
      isQuitting: () => false,
    })
    expect(electron.FakeBrowserWindow.created.at(-1)!.loadURL).toHaveBeenCalledWith('http://localhost:5173/')
  })
})

describe('new windows and navigation', () => {
  it('denies every new window and sends only http(s) links to the browser', () => {
    const win = makeWindow()
    const open = win.webContents.openHandler!
    expect(open({ url: 'https://example.com/docs' })).toEqual({ action: 'deny' })
    expect(electron.shell.openExternal).toHaveBeenCalledWith('https://example.com/docs')
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'vscode://x', 'https://user:pw@evil.com', 'not a url']) {
      expect(open({ url })).toEqual({ action: 'deny' })
    }
    expect(electron.shell.openExternal).toHaveBeenCalledTimes(1)
  })

  it('blocks navigation away from the app', () => {
    const win = makeWindow()
    const willNavigate = win.webContents.listeners.get('will-navigate')!
    const away = navEvent('https://evil.example/')
    willNavigate(away)
    expect(away.preventDefault).toHaveBeenCalled()
    const file = navEvent('file:///home/me/other.html')
    willNavigate(file)
    expect(file.preventDefault).toHaveBeenCalled()
    expect(electron.shell.openExternal).not.toHaveBeenCalledWith('file:///home/me/other.html')
    const own = navEvent(`${APP_URL}#/agents`)
    willNavigate(own)
    expect(own.preventDefault).not.toHaveBeenCalled()
  })

  it('blocks redirects and webviews', () => {
    const win = makeWindow()
    const redirect = navEvent('https://evil.example/')
    win.webContents.listeners.get('will-redirect')!(redirect)
    expect(redirect.preventDefault).toHaveBeenCalled()
    const attach = navEvent('')
    win.webContents.listeners.get('will-attach-webview')!(attach)
    expect(attach.preventDefault).toHaveBeenCalled()
  })

  it('normalizes external URLs', () => {
    expect(externalUrl('HTTPS://Example.com')).toBe('https://example.com/')
    expect(externalUrl('data:text/html,hi')).toBeNull()
  })
})

describe('close to tray', () => {
  it('hides instead of closing while close-to-tray is on', () => {
    const win = makeWindow()
    const event = { preventDefault: vi.fn() }
    win.listeners.get('close')!(event)
    expect(event.preventDefault).toHaveBeenCalled()
    expect(win.hide).toHaveBeenCalled()
  })

  it('really closes when quitting or when close-to-tray is off', () => {
    for (const opts of [{ quitting: true }, { closeToTray: false }]) {
      const win = makeWindow(opts)
      const event = { preventDefault: vi.fn() }
      win.listeners.get('close')!(event)
      expect(event.preventDefault).not.toHaveBeenCalled()
      expect(win.hide).not.toHaveBeenCalled()
    }
  })

  it('shows on ready unless started hidden', () => {
    const shown = makeWindow()
    shown.listeners.get('ready-to-show')!()
    expect(shown.show).toHaveBeenCalled()
    const hidden = makeWindow({ hidden: true })
    hidden.listeners.get('ready-to-show')!()
    expect(hidden.show).not.toHaveBeenCalled()
  })
})

describe('session permissions', () => {
  it('denies everything but clipboard writes from the app', () => {
    let request: Listener = () => undefined
    let check: Listener = () => undefined
    const session = {
      setPermissionRequestHandler: (h: Listener) => (request = h),
      setPermissionCheckHandler: (h: Listener) => (check = h),
    }
    hardenSession(session as never, renderer.isAppUrl)
    const app = { getURL: () => APP_URL }
    const foreign = { getURL: () => 'https://evil.example/' }
    const answers: boolean[] = []
    request(app, 'media', (ok: boolean) => answers.push(ok))
    request(app, 'clipboard-sanitized-write', (ok: boolean) => answers.push(ok))
    request(foreign, 'clipboard-sanitized-write', (ok: boolean) => answers.push(ok))
    expect(answers).toEqual([false, true, false])
    expect(check(app, 'geolocation')).toBe(false)
    expect(check(app, 'clipboard-sanitized-write')).toBe(true)
    expect(check(null, 'clipboard-sanitized-write')).toBe(false)
  })
})
