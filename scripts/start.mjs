#!/usr/bin/env node
// `npm start`: the Electron app where Electron can run; otherwise, in one line, why not,
// and the headless mode (same UI in a browser), printing its URL.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const passthrough = process.argv.slice(2)

function electronBinary() {
  // Electron 45 downloads its binary on first require; give that a bounded chance.
  const probe = spawnSync(process.execPath, ['-e', "process.stdout.write(require('electron'))"], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
  })
  const path = probe.stdout?.trim()
  if (probe.status === 0 && path && existsSync(path)) return { path }
  const why = (probe.stderr || '').split('\n').find((l) => /Error|failed|ENOTFOUND|EAI_AGAIN/i.test(l)) ?? 'binary not available'
  return { error: why.trim().slice(0, 160) }
}

function run(cmd, args) {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' })
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
}

const forceHeadless = process.env.RELAY_DESKTOP_HEADLESS === '1' || passthrough.includes('--headless')
const electron = forceHeadless ? { error: 'headless mode requested' } : electronBinary()
if (electron.path) {
  run(electron.path, ['.', ...passthrough])
} else {
  process.stderr.write(`Electron cannot run here (${electron.error}); starting headless mode instead.\n`)
  run(process.execPath, [join(root, 'out', 'main', 'serve.js'), ...passthrough.filter((a) => a !== '--headless')])
}
