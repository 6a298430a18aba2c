/** Wiring of electron/main/index.ts, with Electron and the host replaced by fakes. */
import { beforeEach, describe, expect, it, vi } from 'vitest'

type Listener = (...args: any[]) => unknown

const fakes = vi.hoisted(() => {
  const appListeners = new Map<string, Listener>()
  class FakeBrowserWindow {
    static all: FakeBrowserWindow[] = []
    static getAllWindows = () => FakeBrowserWindow.all
    webContents = { setWindowOpenHandler: () => undefined, on: () => undefined }
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
  }
  return {
    appListeners,
    FakeBrowserWindow,
    host,
    createHost: vi.fn(() => host),
    app: {
      lock: true,
      requestSingleInstanceLock: vi.fn(() => fakes.app.lock),
      on: vi.fn((event: string, listener: Listener) => appListeners.set(event, listener)),
      whenReady: () => Promise.resolve(),
      isReady: () => true,
      isPackaged: false,
      getPath: vi.fn(() => '/home/me/.config/Relay'),
      getAppPath: () => '/app',
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
  dialog: { showErrorBox: vi.fn() },
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
})

describe('main entry', () => {
  it('a second instance quits without starting a host', async () => {
    fakes.app.lock = false
    await boot()
    expect(fakes.app.quit).toHaveBeenCalled()
    expect(fakes.createHost).not.toHaveBeenCalled()
  })

  it('starts the host in userData with IPC, tray and a window', async () => {
    await boot()
    expect(fakes.createHost).toHaveBeenCalledWith(expect.objectContaining({ dataDir: '/home/me/.config/Relay' }))
    expect(fakes.ipcMain.handle).toHaveBeenCalledWith('relay:invoke', expect.any(Function))
    expect(fakes.tray).toHaveBeenCalledWith(expect.objectContaining({ p: expect.stringMatching(/build\/tray\/tray-/) }))
    expect(fakes.FakeBrowserWindow.all).toHaveLength(1)
    expect(fakes.FakeBrowserWindow.all[0].options.webPreferences.preload).toMatch(/preload\/index\.js$/)
    // Tray app: closing the last window must not quit.
    fakes.appListeners.get('window-all-closed')!()
    expect(fakes.app.quit).not.toHaveBeenCalled()
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
})
