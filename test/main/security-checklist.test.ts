/**
 * desktop-apps.md §4, item by item, in one place. Each item points at the code that
 * implements it; the detailed behaviour tests live beside each module.
 */
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { commandNames, commands, events } from '../../shared/ipc/contract'
import { sanitizeForTerminal } from '../../electron/broker/injection-format'
import { RENDERER_CSP } from '../../electron/main/csp'
import { toSettingsView } from '../../electron/host/settings'
import { settingsSchema } from '../../electron/host/settings'

vi.mock('electron', () => ({ BrowserWindow: class {}, shell: { openExternal: vi.fn() } }))
const { secureWindowOptions, externalUrl } = await import('../../electron/main/window')

const root = resolve(__dirname, '../..')
const read = (p: string) => readFileSync(resolve(root, p), 'utf8')

describe('§4 Electron security checklist', () => {
  it('1. the renderer is powerless: isolation, sandbox, no Node, no webviews', () => {
    expect(secureWindowOptions('/p.js').webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInSubFrames: false,
      nodeIntegrationInWorker: false,
      webviewTag: false,
    })
  })

  it('2. a narrow preload: one function per operation, no ipcRenderer, no generic invoke', () => {
    const preload = read('electron/preload/index.ts')
    expect(preload).toMatch(/exposeInMainWorld\(RELAY_GLOBAL, relay\)/)
    expect(preload).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer/)
    expect(preload).toContain('commandNames.map')
    expect(read('electron/preload/api.ts')).not.toMatch(/invoke\(command: string/)
  })

  it('3. every IPC input is validated against the contract and its sender checked', () => {
    const ipc = read('electron/main/ipc.ts')
    expect(ipc).toContain('checkSender(event, deps.isAppUrl)')
    expect(ipc).toContain('parseRequest(command, request)')
    for (const name of commandNames) expect(commands[name].request.safeParse).toBeTypeOf('function')
    expect(Object.keys(events).length).toBeGreaterThan(0)
  })

  it('4. a strict CSP: no inline or eval script, no remote connections in Electron', () => {
    expect(RENDERER_CSP).toContain("script-src 'self'")
    expect(RENDERER_CSP).not.toMatch(/unsafe-eval|unsafe-inline'[^;]*script/)
    expect(RENDERER_CSP).toContain("connect-src 'self'")
    expect(RENDERER_CSP).toContain("object-src 'none'")
  })

  it('5. navigation and new windows are locked; only normalized http(s) links leave the app', () => {
    const win = read('electron/main/window.ts')
    expect(win).toContain("return { action: 'deny' }")
    expect(win).toContain("contents.on('will-navigate'")
    expect(externalUrl('file:///etc/passwd')).toBeNull()
    expect(externalUrl('javascript:alert(1)')).toBeNull()
    expect(externalUrl('https://user:pw@evil.example/')).toBeNull()
    expect(externalUrl('https://example.com/a b')).toBe('https://example.com/a%20b')
  })

  it('6. permission requests are denied (only clipboard writes from our own page)', () => {
    expect(read('electron/main/window.ts')).toContain("new Set(['clipboard-sanitized-write'])")
  })

  it('7. web security stays on', () => {
    expect(secureWindowOptions('/p.js').webPreferences).toMatchObject({ webSecurity: true, allowRunningInsecureContent: false, experimentalFeatures: false })
  })

  it('9. fuses are set in the packaging config', () => {
    const config = JSON.parse(read('build/electron-builder.json'))
    expect(config.electronFuses).toMatchObject({ runAsNode: false, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false, onlyLoadAppFromAsar: true })
  })

  it('10a. injected text is sanitized of sequences that could escape the terminal (broker)', () => {
    const hostile = 'hi\x1b]0;pwned\x07\x1b[2J\x1b[200~rm -rf ~\x1b[201~\r\x03 there\x9b31m'
    const clean = sanitizeForTerminal(hostile)
    expect(clean).toBe('hirm -rf ~ there')
    expect(clean).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/)
  })

  it('10b. secrets stay in main: the settings the renderer gets carry no key', () => {
    const s = settingsSchema.parse({ engine: { mode: 'remote', url: 'http://team:1', workspaceKey: 'rk_live_topsecret' } })
    const view = toSettingsView(s, { remoteKeySet: true, restartRequired: false, engineOverridden: false })
    expect(JSON.stringify(view)).not.toContain('rk_live_topsecret')
    expect(view.engine.workspaceKeySet).toBe(true)
    // safeStorage wraps the remote key inside Electron.
    expect(read('electron/main/index.ts')).toContain('safeStorageCodec(safeStorage)')
    expect(existsSync(resolve(root, 'electron/main/secrets.ts'))).toBe(true)
  })
})
