/**
 * desktop-apps.md §4, item by item, in one place, checked on what the app actually does:
 * electron/main/index.ts is booted (packaged, as shipped) with Electron replaced by
 * recording fakes (Electron cannot run here) and the host by a stub (it is not under test
 * here), and each item is read off what main did: the window it created and the handlers
 * it put on it, the session's permission handlers, the IPC handlers; the preload is loaded
 * the same way; the CSP is what the renderer build writes into index.html. The detailed
 * behaviour of each module is tested beside it (window, ipc, preload, csp .test.ts).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { commandNames } from '../../shared/ipc/contract'
import { sanitizeForTerminal } from '../../electron/broker/injection-format'
import { RENDERER_CSP } from '../../electron/main/csp'
import { toSettingsView, settingsSchema } from '../../electron/host/settings'

type Listener = (...args: any[]) => any

const fakes = vi.hoisted(() => {
  const windows: any[] = []
  class FakeBrowserWindow {
    static getAllWindows = () => windows
    listeners = new Map<string, Listener>()
    webContents = {
      openHandler: undefined as Listener | undefined,
      listeners: new Map<string, Listener>(),
      setWindowOpenHandler(h: Listener) {
        this.openHandler = h
      },
      on(event: string, l: Listener) {
        this.listeners.set(event, l)
        return this
      },
      once(event: string, l: Listener) {
        return this.on(event, l)
      },
      isDestroyed: () => false,
      send: () => undefined,
    }
    loadFile = vi.fn(async (_file: string) => undefined)
    loadURL = vi.fn(async (_url: string) => undefined)
    constructor(public options: any) {
      windows.push(this)
    }
    on(event: string, l: Listener) {
      this.listeners.set(event, l)
      return this
    }
    once(event: string, l: Listener) {
      return this.on(event, l)
    }
    isDestroyed = () => false
    show = () => undefined
  }
  const permission = { request: undefined as Listener | undefined, check: undefined as Listener | undefined }
  const ipcHandlers = new Map<string, Listener>()
  const exposed = new Map<string, unknown>()
  const hostInvoke = vi.fn(async (..._args: unknown[]): Promise<unknown> => ({ ok: true, result: { ok: true } }))
  const host = {
    start: vi.fn(async () => undefined),
    stop: vi.fn(async () => undefined),
    invoke: hostInvoke,
    onEvent: vi.fn(() => () => undefined),
    connect: vi.fn(() => ({ invoke: hostInvoke, push: () => undefined, flush: () => undefined, close: () => undefined })),
    status: () => ({ state: 'starting', nodeName: 'n', nodeId: '', engineUrl: '', embeddedEngine: true, agentsOnline: 0 }),
    agents: () => [],
    settings: () => ({ closeToTray: true }),
    broadcast: vi.fn(),
  }
  return {
    windows,
    FakeBrowserWindow,
    permission,
    ipcHandlers,
    exposed,
    host,
    hostInvoke,
    createHost: vi.fn((_opts: any) => host),
    openExternal: vi.fn(async (_url: string) => undefined),
    encryptString: vi.fn((s: string) => Buffer.from([...s].reverse().join(''))),
    ipcRendererInvoke: vi.fn(async (..._args: unknown[]): Promise<unknown> => ({ ok: true, result: {} })),
  }
})

vi.mock('electron', () => ({
  app: {
    requestSingleInstanceLock: () => true,
    on: () => undefined,
    whenReady: () => Promise.resolve(),
    isReady: () => true,
    isPackaged: true,
    getPath: () => '/home/me/.config/Relay',
    getAppPath: () => '/opt/Relay/resources/app.asar',
    getVersion: () => '1.0.0',
    setLoginItemSettings: () => undefined,
    quit: () => undefined,
  },
  BrowserWindow: fakes.FakeBrowserWindow,
  ipcMain: { handle: (channel: string, h: Listener) => void fakes.ipcHandlers.set(channel, h), removeHandler: (channel: string) => void fakes.ipcHandlers.delete(channel) },
  session: {
    defaultSession: {
      setPermissionRequestHandler: (h: Listener) => (fakes.permission.request = h),
      setPermissionCheckHandler: (h: Listener) => (fakes.permission.check = h),
    },
  },
  safeStorage: {
    isEncryptionAvailable: () => true,
    getSelectedStorageBackend: () => 'gnome_libsecret',
    encryptString: fakes.encryptString,
    decryptString: (b: Buffer) => [...b.toString()].reverse().join(''),
  },
  dialog: { showErrorBox: () => undefined, showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
  shell: { openExternal: fakes.openExternal },
  Notification: class {
    static isSupported = () => false
  },
  Menu: { buildFromTemplate: (t: unknown) => t },
  nativeImage: { createFromPath: () => ({ isEmpty: () => false }) },
  Tray: class {
    on() {}
    setImage() {}
    setToolTip() {}
    setContextMenu() {}
    destroy() {}
  },
  // The preload's side of the bridge.
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => void fakes.exposed.set(key, api) },
  ipcRenderer: { invoke: fakes.ipcRendererInvoke, on: () => undefined, removeListener: () => undefined },
}))
vi.mock('../../electron/host', () => ({ createHost: fakes.createHost }))

const root = resolve(__dirname, '../..')
const savedArgv = process.argv
const hadResourcesPath = 'resourcesPath' in process

beforeAll(async () => {
  // A packaged app (no dev server URL is trusted), launched normally (so it opens its window).
  Object.defineProperty(process, 'resourcesPath', { value: '/opt/Relay/resources', configurable: true })
  process.argv = ['/opt/Relay/relay-desktop']
  try {
    await import('../../electron/main/index')
  } finally {
    process.argv = savedArgv
  }
  await vi.waitFor(() => expect(fakes.host.start).toHaveBeenCalled())
  await import('../../electron/preload/index')
})

afterAll(() => {
  if (!hadResourcesPath) delete (process as { resourcesPath?: string }).resourcesPath
})

/** The one window main created, and the URL of the renderer it loaded (the only trusted document). */
function mainWindow() {
  expect(fakes.windows).toHaveLength(1)
  const win = fakes.windows[0]
  expect(win.loadFile).toHaveBeenCalledTimes(1)
  const appUrl = pathToFileURL(win.loadFile.mock.calls[0][0]).href
  return { win, appUrl }
}

const navEvent = (url: string) => ({ url, preventDefault: vi.fn() })

describe('§4 Electron security checklist (on the window, session and IPC main sets up)', () => {
  it('1. the renderer is powerless: isolation, sandbox, no Node, no webviews', () => {
    const { win } = mainWindow()
    expect(win.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webviewTag: false,
    })
    expect(win.options.webPreferences.preload).toBe(resolve(root, 'electron/preload/index.js'))
    const attach = navEvent('')
    win.webContents.listeners.get('will-attach-webview')!(attach)
    expect(attach.preventDefault).toHaveBeenCalled()
  })

  it('2. a narrow preload: only window.relay, one function per operation on its own channel, no ipcRenderer, no generic invoke', async () => {
    expect([...fakes.exposed.keys()]).toEqual(['relay'])
    const relay = fakes.exposed.get('relay') as { commands: Record<string, (r: unknown) => Promise<unknown>>; onEvent: unknown }
    expect(Object.keys(relay).sort()).toEqual(['commands', 'onEvent'])
    expect(Object.keys(relay.commands).sort()).toEqual([...commandNames].sort())
    expect(Object.isFrozen(relay.commands)).toBe(true)
    for (const name of commandNames) {
      fakes.ipcRendererInvoke.mockClear()
      await relay.commands[name]!({ probe: name })
      expect(fakes.ipcRendererInvoke).toHaveBeenCalledExactlyOnceWith(`relay:cmd:${name}`, { probe: name })
    }
    // (That events reach the page without Electron's event object: preload.test.ts.)
  })

  it('3. every IPC input is validated against the contract and its sender checked', async () => {
    const { appUrl } = mainWindow()
    vi.spyOn(console, 'log').mockImplementation(() => undefined) // main logs each refusal
    expect([...fakes.ipcHandlers.keys()].sort()).toEqual(commandNames.map((c) => `relay:cmd:${c}`).sort())
    const spawn = fakes.ipcHandlers.get('relay:cmd:agents.spawn')!
    const valid = { name: 'alice', command: 'claude' }
    fakes.hostInvoke.mockClear()
    for (const frame of [{ url: 'https://evil.example/', parent: null }, { url: 'file:///tmp/evil.html', parent: null }, { url: appUrl, parent: { url: appUrl } }, null]) {
      expect(await spawn({ senderFrame: frame }, valid)).toMatchObject({ ok: false, error: { code: 'forbidden' } })
    }
    expect(await spawn({ senderFrame: { url: appUrl, parent: null } }, { name: '', command: 'claude' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(await spawn({ senderFrame: { url: appUrl, parent: null } }, { ...valid, extra: 'x' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } })
    expect(fakes.hostInvoke).not.toHaveBeenCalled()
    expect(await spawn({ senderFrame: { url: `${appUrl}#/agents`, parent: null } }, valid)).toEqual({ ok: true, result: { ok: true } })
    expect(fakes.hostInvoke).toHaveBeenCalledExactlyOnceWith('agents.spawn', expect.objectContaining(valid))
    vi.mocked(console.log).mockRestore()
  })

  it('4. a strict CSP, written into the renderer build before any script: no inline or eval script, no remote connections', async () => {
    const directives = RENDERER_CSP.split('; ')
    expect(directives.find((d) => d.startsWith('script-src'))).toBe("script-src 'self'")
    expect(directives.find((d) => d.startsWith('connect-src'))).toBe("connect-src 'self'")
    expect(directives).toContain("object-src 'none'")
    expect(RENDERER_CSP).not.toContain('unsafe-eval')
    // A file:// page gets no response headers: the policy is the <meta> the renderer build adds.
    const { default: config } = await import('../../electron.vite.config')
    const plugin = ((config as any).renderer.plugins as any[]).flat().find((p) => p?.name === 'relay-renderer-csp')
    expect(plugin).toMatchObject({ apply: 'build' })
    const built: string = plugin.transformIndexHtml.handler(readFileSync(resolve(root, 'renderer/index.html'), 'utf8'))
    const meta = `<meta http-equiv="Content-Security-Policy" content="${RENDERER_CSP}">`
    expect(built).toContain(meta)
    expect(built.indexOf(meta)).toBeLessThan(built.indexOf('<script'))
    // (The headless server sends the same policy as a header: serve.test.ts.)
  })

  it('5. navigation and new windows are locked; only normalized http(s) links leave the app', () => {
    const { win, appUrl } = mainWindow()
    fakes.openExternal.mockClear()
    const open = win.webContents.openHandler!
    for (const url of ['https://example.com/a b', 'file:///etc/passwd', 'javascript:alert(1)', 'https://user:pw@evil.example/', appUrl]) {
      expect(open({ url })).toEqual({ action: 'deny' })
    }
    expect(fakes.openExternal.mock.calls).toEqual([['https://example.com/a%20b']])
    const willNavigate = win.webContents.listeners.get('will-navigate')!
    for (const url of ['https://evil.example/', 'file:///home/me/other.html']) {
      const away = navEvent(url)
      willNavigate(away)
      expect(away.preventDefault, url).toHaveBeenCalled()
    }
    const own = navEvent(`${appUrl}#/settings`)
    willNavigate(own)
    expect(own.preventDefault).not.toHaveBeenCalled()
    const redirect = navEvent('https://evil.example/')
    win.webContents.listeners.get('will-redirect')!(redirect)
    expect(redirect.preventDefault).toHaveBeenCalled()
  })

  it('6. permission requests are denied (only clipboard writes from our own page)', () => {
    const { appUrl } = mainWindow()
    const ours = { getURL: () => appUrl }
    const foreign = { getURL: () => 'https://evil.example/' }
    const ask = (contents: unknown, permission: string) => {
      const answers: boolean[] = []
      fakes.permission.request!(contents, permission, (granted: boolean) => answers.push(granted))
      expect(answers).toHaveLength(1)
      return answers[0]
    }
    for (const p of ['media', 'geolocation', 'notifications', 'midi', 'pointerLock', 'fullscreen', 'openExternal', 'clipboard-read']) {
      expect(ask(ours, p), p).toBe(false)
      expect(fakes.permission.check!(ours, p), p).toBe(false)
    }
    expect(ask(ours, 'clipboard-sanitized-write')).toBe(true)
    expect(ask(foreign, 'clipboard-sanitized-write')).toBe(false)
    expect(fakes.permission.check!(ours, 'clipboard-sanitized-write')).toBe(true)
    expect(fakes.permission.check!(null, 'clipboard-sanitized-write')).toBe(false)
  })

  it('7. web security stays on', () => {
    const { win } = mainWindow()
    expect(win.options.webPreferences).toMatchObject({ webSecurity: true, allowRunningInsecureContent: false, experimentalFeatures: false })
  })

  it('9. fuses are set in the packaging config', () => {
    const config = JSON.parse(readFileSync(resolve(root, 'build/electron-builder.json'), 'utf8'))
    expect(config.electronFuses).toMatchObject({ runAsNode: false, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false, onlyLoadAppFromAsar: true })
  })

  it('10a. injected text is sanitized of sequences that could escape the terminal (broker)', () => {
    const hostile = 'hi\x1b]0;pwned\x07\x1b[2J\x1b[200~rm -rf ~\x1b[201~\r\x03 there\x9b31m'
    const clean = sanitizeForTerminal(hostile)
    expect(clean).toBe('hirm -rf ~ there')
    expect(clean).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/)
  })

  it('10b. secrets stay in main: the settings the renderer gets carry no key; the remote key is wrapped by the OS keychain', () => {
    const s = settingsSchema.parse({ engine: { mode: 'remote', url: 'http://team:1', workspaceKey: 'rk_live_topsecret' } })
    const view = toSettingsView(s, { remoteKeySet: true, restartRequired: false, engineOverridden: false })
    expect(JSON.stringify(view)).not.toContain('rk_live_topsecret')
    expect(view.engine.workspaceKeySet).toBe(true)
    // The codec main hands the host goes through Electron's safeStorage.
    const codec = fakes.createHost.mock.calls[0]![0].secretCodec()
    fakes.encryptString.mockClear()
    const wrapped = codec.encrypt('rk_live_topsecret')
    expect(fakes.encryptString).toHaveBeenCalledExactlyOnceWith('rk_live_topsecret')
    expect(wrapped).not.toContain('rk_live_topsecret')
    expect(codec.decrypt(wrapped)).toBe('rk_live_topsecret')
  })
})
