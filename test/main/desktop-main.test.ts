/** Electron-only glue, with electron absent: autostart, native notifications, safeStorage codec, packaging config. */
import { relayInvocation } from '../../electron/agent-tools/launch'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { applyStartAtLogin, autostartDesktopEntry, autostartPath, desktopExecArg, type AutostartDeps } from '../../electron/main/autostart'
import { createNativeNotifier, type NotificationLike } from '../../electron/main/notifications'
import { safeStorageCodec } from '../../electron/main/secrets'

vi.mock('electron', () => {
  throw new Error('these modules must not need the electron runtime')
})

function deps(platform: NodeJS.Platform, env: NodeJS.ProcessEnv = {}): AutostartDeps & { files: Map<string, string> } {
  const files = new Map<string, string>()
  return {
    files,
    platform,
    env,
    home: '/home/me',
    execPath: '/opt/Relay Desktop/relay-desktop',
    setLoginItemSettings: vi.fn(),
    writeFile: (p, d) => void files.set(p, d),
    removeFile: (p) => void files.delete(p),
    mkdir: vi.fn(),
  }
}

describe('start at login', () => {
  it('macOS and Windows: login item, opened hidden with --hidden', () => {
    for (const platform of ['darwin', 'win32'] as const) {
      const d = deps(platform)
      applyStartAtLogin(true, d)
      expect(d.setLoginItemSettings).toHaveBeenCalledWith({ openAtLogin: true, openAsHidden: true, args: ['--hidden'] })
      applyStartAtLogin(false, d)
      expect(d.setLoginItemSettings).toHaveBeenLastCalledWith({ openAtLogin: false, openAsHidden: false, args: [] })
      expect(d.files.size).toBe(0)
    }
  })

  it('Linux: writes and removes an XDG autostart entry that starts hidden', () => {
    const d = deps('linux')
    applyStartAtLogin(true, d)
    const path = '/home/me/.config/autostart/relay-desktop.desktop'
    const entry = d.files.get(path) ?? ''
    expect(entry).toContain('[Desktop Entry]\nType=Application\n')
    expect(entry).toContain('Exec="/opt/Relay Desktop/relay-desktop" --hidden\n')
    expect(entry).toContain('X-GNOME-Autostart-enabled=true')
    expect(d.setLoginItemSettings).not.toHaveBeenCalled()
    applyStartAtLogin(false, d)
    expect(d.files.has(path)).toBe(false)
  })

  it('Linux: an AppImage autostarts itself, and XDG_CONFIG_HOME is honoured', () => {
    const d = deps('linux', { APPIMAGE: '/home/me/Apps/Relay.AppImage', XDG_CONFIG_HOME: '/cfg' })
    applyStartAtLogin(true, d)
    expect(d.files.get('/cfg/autostart/relay-desktop.desktop')).toContain('Exec=/home/me/Apps/Relay.AppImage --hidden')
    expect(autostartPath({}, '/h')).toBe('/h/.config/autostart/relay-desktop.desktop')
  })

  it('quotes Exec arguments per the Desktop Entry spec', () => {
    expect(desktopExecArg('/usr/bin/relay')).toBe('/usr/bin/relay')
    expect(desktopExecArg('a b"c$d`e\\f')).toBe('"a b\\"c\\$d\\`e\\\\f"')
    expect(autostartDesktopEntry({ execPath: '/x', args: ['/app dir'] })).toContain('Exec=/x "/app dir" --hidden')
  })
})

describe('native notifications', () => {
  function fake() {
    const made: Array<{ options: unknown; handlers: Map<string, () => void>; shown: boolean }> = []
    const open = vi.fn()
    const n = createNativeNotifier({
      isSupported: () => true,
      open,
      limit: 2,
      create: (options) => {
        const entry = { options, handlers: new Map<string, () => void>(), shown: false }
        made.push(entry)
        const note: NotificationLike = {
          on: (event, listener) => entry.handlers.set(event, listener),
          show: () => void (entry.shown = true),
        }
        return note
      },
    })
    return { n, made, open }
  }
  const note = (id: string, agent?: string) => ({ id, kind: 'agentIdle' as const, title: `t${id}`, body: 'b', agent, at: 1, merged: 0 })

  it('shows, keeps a bounded strong reference, and a click opens the agent', () => {
    const { n, made, open } = fake()
    n.show(note('1', 'alice'))
    n.show(note('2'))
    n.show(note('3'))
    expect(made.map((m) => [m.options, m.shown])).toEqual([
      [{ title: 't1', body: 'b' }, true],
      [{ title: 't2', body: 'b' }, true],
      [{ title: 't3', body: 'b' }, true],
    ])
    expect(n.live()).toBe(2)
    made[0].handlers.get('click')!()
    expect(open).toHaveBeenCalledWith('alice')
    made[2].handlers.get('close')!()
    expect(n.live()).toBe(1)
  })

  it('does nothing where notifications are unsupported', () => {
    const n = createNativeNotifier({ isSupported: () => false, create: () => { throw new Error('no') }, open: vi.fn() })
    expect(n.show(note('1'))).toBe(false)
  })
})

describe('safeStorage codec', () => {
  const storage = (available: boolean, backend = 'gnome_libsecret') => ({
    isEncryptionAvailable: () => available,
    encryptString: (s: string) => Buffer.from([...s].reverse().join('')),
    decryptString: (b: Buffer) => [...b.toString()].reverse().join(''),
    getSelectedStorageBackend: () => backend,
  })
  it('wraps and unwraps through the OS keychain', () => {
    const codec = safeStorageCodec(storage(true), 'linux')!
    const wrapped = codec.encrypt('rk_live_secret')
    expect(wrapped).not.toContain('rk_live')
    expect(codec.decrypt(wrapped)).toBe('rk_live_secret')
  })
  it('is not used without a real keychain (unavailable, or basic_text on Linux)', () => {
    expect(safeStorageCodec(storage(false))).toBeUndefined()
    expect(safeStorageCodec(storage(true, 'basic_text'), 'linux')).toBeUndefined()
    expect(safeStorageCodec(storage(true, 'basic_text'), 'darwin')).toBeDefined()
  })
})

describe('packaging config (build/electron-builder.json)', () => {
  const config = JSON.parse(readFileSync(resolve(__dirname, '../../build/electron-builder.json'), 'utf8'))
  const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8'))

  it('targets AppImage and deb on Linux, dmg on macOS, nsis on Windows', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb'])
    expect(config.mac.target).toEqual(['dmg'])
    expect(config.win.target).toEqual(['nsis'])
  })

  it('unpacks native modules and node-pty\'s spawn-helper from the asar; no rebuild inside the packager', () => {
    expect(config.asar).toBe(true)
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining(['node_modules/node-pty/build/Release/spawn-helper', 'node_modules/node-pty/build/Release/*.node', 'node_modules/better-sqlite3/build/Release/*.node']),
    )
    expect(config.npmRebuild).toBe(false)
    for (const native of ['node-pty', 'better-sqlite3']) expect(pkg.dependencies[native]).toBeDefined()
  })

  it('flips the security fuses (desktop-apps.md §4 #9)', () => {
    expect(config.electronFuses).toMatchObject({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    })
  })

  it('ships the tray icons where main looks for them, the relay shim where agents find it, and `npm run dist` exists', () => {
    expect(config.extraResources).toEqual([
      { from: 'build/tray', to: 'tray', filter: ['*.png'] },
      // relayInvocation: packaged, the agent's PATH gets <resources>/bin, whose shim runs the app with --relay-cli.
      { from: 'bin/relay', to: 'bin/relay' },
    ])
    expect(relayInvocation({ execPath: '/opt/R/relay-desktop', electron: true, defaultApp: false, resourcesPath: '/opt/R/resources' }).binDir).toBe('/opt/R/resources/bin')
    // The packed files are the build output: the relay program is one of them.
    expect(config.files).toContain('out/**')
    // That main looks for the tray icons in <resources>/tray when packaged: index.test.ts.
    expect(pkg.scripts.dist).toBe('node build/dist.mjs')
  })
})
