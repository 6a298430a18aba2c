#!/usr/bin/env node
/**
 * `npm run dist [-- --linux|--mac|--win]`: package the app with electron-builder.
 *
 * electron-builder is not a dependency of this repository (it pulls the Electron binary
 * and ~200 MB of tooling), and node-pty/better-sqlite3 must be rebuilt for Electron's ABI
 * first, which would break the Node-ABI build the tests and `npm run serve` use. So this
 * script checks what is there and, when something is missing, says exactly what to run,
 * ideally on a CI runner or a clean checkout with internet access, one per OS.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const config = 'build/electron-builder.json'
const platformFlag = process.argv.slice(2).find((a) => /^--(linux|mac|win)$/.test(a)) ?? (process.platform === 'darwin' ? '--mac' : process.platform === 'win32' ? '--win' : '--linux')

function has(mod) {
  try {
    require.resolve(mod)
    return true
  } catch {
    return false
  }
}

// Not require('electron'): that starts a download where the binary is missing.
const electronBinary = (() => {
  const dir = join(root, 'node_modules', 'electron')
  try {
    const rel = readFileSync(join(dir, 'path.txt'), 'utf8').trim()
    return rel !== '' && existsSync(join(dir, 'dist', rel))
  } catch {
    return false
  }
})()

const steps = [
  'npm ci',
  'npx electron-vite build',
  'npx --yes @electron/rebuild -f -w node-pty,better-sqlite3   # natives for Electron 45, not Node',
  `npx --yes electron-builder --config ${config} ${platformFlag}   # AppImage + deb on Linux, dmg on macOS, nsis on Windows`,
]

if (!has('electron-builder') || !electronBinary) {
  const missing = [!has('electron-builder') && 'electron-builder (not a dependency here)', !electronBinary && 'the Electron binary (its download was skipped)'].filter(Boolean)
  process.stderr.write(
    [
      `relay-desktop dist: cannot package on this machine: missing ${missing.join(' and ')}.`,
      'Packaging needs internet access and is best done on a CI runner per OS, in a clean checkout:',
      ...steps.map((s) => `  ${s}`),
      `The config is ${config}: AppImage, deb, dmg, nsis; node-pty (with spawn-helper) and better-sqlite3 unpacked from the asar; fuses set.`,
      'Do not run the rebuild in your working tree: it switches the native modules to the Electron ABI and `npm test`/`npm run serve` then fail until `npm rebuild`.',
      '',
    ].join('\n'),
  )
  process.exit(2)
}

for (const step of steps.slice(1)) {
  const cmd = step.replace(/\s+#.*$/, '')
  process.stderr.write(`$ ${cmd}\n`)
  const r = spawnSync(cmd, { cwd: root, stdio: 'inherit', shell: true })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
