/** Wiring of electron/main/index.ts, with Electron and the host replaced by fakes. */
import { beforeEach, describe, expect, it, vi } from 'vitest'

type Listener = (...args: any[]) => unknown

const fakes = vi.hoisted(() => {
  const appListeners = new Map<string, Listener>()
  class FakeBrowserWindow {
    static all: FakeBrowserWindow[] = []
    static getAllWindows = () => FakeBrowserWindow.all
    webContents = { setWindowOpenHandler: () => undefined, on: () => undefined, once: (_e: string, fn: () => void) => fn() }
    constructor(public options: any) {
      FakeBrowserWindow.all.push(this)
    }
    on() {
      return this
    }
    once() {
      return this
    }
    loadFile = async () => undefined
    loadURL = async () => undefined
    isDestroyed = () => false
  }
  const host = {
    start: vi.fn(async () => undefined),
    stop: vi.fn(async () => undefined),
    invoke: vi.fn(),
    onEvent: vi.fn(() => () => undefined),
    status: () => ({ state: 'starting', nodeName: 'n', nodeId: '', engineUrl: '', embeddedEngine: true, agentsOnline: 0 }),
    agents: () => [],
    closeToTray: true,
    settings: () => ({ closeToTray: host.closeToTray }),
    broadcast: vi.fn(),
  }
  const notifications: Array<{ options: unknown; shown: boolean }> = []
  return {
    appListeners,
    FakeBrowserWindow,
    host,
    notifications,
    createHost: vi.fn(() => host),
    app: {
      lock: true,
      requestSingleInstanceLock: vi.fn(() => fakes.app.lock),
      on: vi.fn((event: string, listener: Listener) => appListeners.set(event, listener)),
      whenReady: () => Promise.resolve(),
      isReady: () => true,
      isPackaged: false as boolean,
      getPath: vi.fn(() => '/home/me/.config/Relay'),
      getAppPath: () => '/app',
      getVersion: () => '1.2.3',
      setLoginItemSettings: vi.fn(),
      quit: vi.fn(),
    },
    ipcMain: { handle: vi.fn(), removeHandler: vi.fn() },
    tray: vi.fn(),
  }
})

vi.mock('electron', () => ({
  app: fakes.app,
  BrowserWindow: fakes.FakeBrowserWindow,
  ipcMain: fakes.ipcMain,
  session: { defaultSession: { setPermissionRequestHandler: vi.fn(), setPermissionCheckHandler: vi.fn() } },
  dialog: { showErrorBox: vi.fn(), showOpenDialog: vi.fn(async () => ({ canceled: false, filePaths: ['/picked'] })) },
  safeStorage: { isEncryptionAvailable: () => true, encryptString: (s: string) => Buffer.from(`enc:${s}`), decryptString: (b: Buffer) => b.toString().slice(4) },
  Notification: class {
    static isSupported = () => true
    entry: { options: unknown; shown: boolean }
    constructor(options: unknown) {
      this.entry = { options, shown: false }
      fakes.notifications.push(this.entry)
    }
    on() {}
    show() {
      this.entry.shown = true
    }
  },
  shell: { openExternal: vi.fn() },
  Menu: { buildFromTemplate: (t: unknown) => t },
  nativeImage: { createFromPath: (p: string) => ({ p, isEmpty: () => false }) },
  Tray: class {
    constructor(image: unknown) {
      fakes.tray(image)
    }
    on() {}
    setImage() {}
    setToolTip() {}
    setContextMenu() {}
    destroy() {}
  },
}))
vi.mock('../../electron/host', () => ({ createHost: fakes.createHost }))
const relayMain = vi.hoisted(() => ({ main: vi.fn(async (_args: string[]) => undefined) }))
vi.mock('../../electron/agent-tools/cli', () => relayMain)

async function boot(argv: string[] = []) {
  vi.resetModules()
  const saved = process.argv
  process.argv = ['electron', '.', ...argv]
  try {
    await import('../../electron/main/index')
  } finally {
    process.argv = saved
  }
  // let whenReady().then(...) run
  await vi.waitFor(() => {
    if (fakes.app.lock) expect(fakes.host.start).toHaveBeenCalled()
  })
}

beforeEach(() => {
  vi.clearAllMocks()
  fakes.appListeners.clear()
  fakes.FakeBrowserWindow.all.length = 0
  fakes.app.lock = true
  fakes.notifications.length = 0
  fakes.host.closeToTray = true
})

describe('main entry', () => {
  it('--relay-cli runs the relay program (an agent calling `relay` or its MCP server) with no lock, host, window or tray', async () => {
    ;(fakes.app as { dock?: { hide: () => void } }).dock = { hide: vi.fn() }
    vi.resetModules()
    const saved = process.argv
    process.argv = ['/opt/Relay Desktop/relay-desktop', '--relay-cli', 'send', 'bob', 'hi there']
    try {
      await import('../../electron/main/index')
    } finally {
      process.argv = saved
    }
    await vi.waitFor(() => expect(relayMain.main).toHaveBeenCalledWith(['send', 'bob', 'hi there']))
    expect(fakes.app.requestSingleInstanceLock).not.toHaveBeenCalled()
    expect(fakes.createHost).not.toHaveBeenCalled()
    expect(fakes.FakeBrowserWindow.all).toHaveLength(0)
    expect(fakes.tray).not.toHaveBeenCalled()
    expect((fakes.app as unknown as { dock: { hide: () => void } }).dock.hide).toHaveBeenCalled()
  })

  it('a second instance quits without starting a host', async () => {
    fakes.app.lock = false
    await boot()
    expect(fakes.app.quit).toHaveBeenCalled()
    expect(fakes.createHost).not.toHaveBeenCalled()
  })

  it('starts the host in userData with IPC, tray and a window', async () => {
    await boot()
    expect(fakes.createHost).toHaveBeenCalledWith(expect.objectContaining({ dataDir: '/home/me/.config/Relay' }))
    expect(fakes.ipcMain.handle).toHaveBeenCalledWith('relay:cmd:agents.spawn', expect.any(Function))
    expect(fakes.tray).toHaveBeenCalledWith(expect.objectContaining({ p: expect.stringMatching(/build\/tray\/tray-/) }))
    expect(fakes.FakeBrowserWindow.all).toHaveLength(1)
    expect(fakes.FakeBrowserWindow.all[0].options.webPreferences.preload).toMatch(/preload\/index\.js$/)
    // Tray app: closing the last window must not quit.
    fakes.appListeners.get('window-all-closed')!()
    expect(fakes.app.quit).not.toHaveBeenCalled()
  })

  it('packaged, the tray icons come from <resources>/tray, where the packaging config puts them', async () => {
    fakes.app.isPackaged = true
    Object.defineProperty(process, 'resourcesPath', { value: '/opt/R/resources', configurable: true })
    try {
      await boot()
    } finally {
      fakes.app.isPackaged = false
      delete (process as { resourcesPath?: string }).resourcesPath
    }
    expect(fakes.tray).toHaveBeenCalledWith(expect.objectContaining({ p: expect.stringMatching(/^\/opt\/R\/resources\/tray\/tray-[^/]+\.png$/) }))
  })

  it('--hidden starts in the tray only; a second launch shows the window', async () => {
    await boot(['--hidden'])
    expect(fakes.FakeBrowserWindow.all).toHaveLength(0)
    fakes.appListeners.get('second-instance')!()
    expect(fakes.FakeBrowserWindow.all).toHaveLength(1)
  })

  it('quitting stops the host first, once', async () => {
    await boot()
    const event = { preventDefault: vi.fn() }
    fakes.appListeners.get('before-quit')!(event)
    expect(event.preventDefault).toHaveBeenCalled()
    await vi.waitFor(() => expect(fakes.app.quit).toHaveBeenCalledOnce())
    expect(fakes.host.stop).toHaveBeenCalledOnce()
  })

  it('gives the host the Electron folder picker, login items, keychain and notifications', async () => {
    await boot()
    const opts = (fakes.createHost.mock.calls as unknown as Array<[any]>)[0][0]
    expect(opts.platform.mode).toBe('electron')
    expect(await opts.platform.pickDirectory('/home')).toBe('/picked')
    const codec = opts.secretCodec()
    expect(codec.decrypt(codec.encrypt('rk_live_x'))).toBe('rk_live_x')
    expect(codec.encrypt('rk_live_x')).not.toContain('rk_live_x')
    const listener = (fakes.host.onEvent.mock.calls as unknown as Array<[(e: string, p: unknown) => void]>)[0][0]
    listener('notification', { id: 'n1', kind: 'agentExited', title: 'alice crashed', body: 'exit 1', agent: 'alice', at: 1, merged: 0 })
    expect(fakes.notifications).toEqual([{ options: { title: 'alice crashed', body: 'exit 1' }, shown: true }])
  })

  it('without close-to-tray, closing the last window quits', async () => {
    await boot()
    fakes.host.closeToTray = false
    fakes.appListeners.get('window-all-closed')!()
    expect(fakes.app.quit).toHaveBeenCalled()
  })
})
