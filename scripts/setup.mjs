#!/usr/bin/env node
// One step before `npm start` / `npm test` / `npm run bench`: install dependencies when
// node_modules is missing or older than the lockfile, build when the build is stale,
// and (for tests) make sure a Chromium and PostgreSQL are there. Each step says what it does.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findChromium } from './chromium.mjs'
import { findInitdb } from './postgres.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const mode = process.argv[2] ?? 'app'
const say = (msg) => process.stderr.write(`[setup] ${msg}\n`)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function run(cmd, args, extraEnv = {}, cwd = root) {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: { ...process.env, ...extraEnv } })
  if (r.status !== 0) {
    say(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status ?? 1)
  }
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs
  } catch {
    return 0
  }
}

function newestIn(dir) {
  let newest = 0
  if (!existsSync(dir)) return 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const p = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestIn(p) : mtime(p))
  }
  return newest
}

// 1. Dependencies. node-gyp must build node-pty and better-sqlite3 against local headers
//    (it cannot download them here), so point it at the system's Node headers when present.
const installed = join(root, 'node_modules', '.package-lock.json')
if (!existsSync(installed) || mtime(join(root, 'package-lock.json')) > mtime(installed)) {
  say('installing dependencies (npm ci; builds node-pty and better-sqlite3 from source)…')
  const env = existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {}
  run(npm, ['ci', '--no-audit', '--no-fund'], env)
}

// 2. Build (main, preload, renderer) when any source is newer than the output.
const built = join(root, 'out', 'renderer', 'index.html')
const sources = Math.max(
  newestIn(join(root, 'renderer')),
  // main bundles the host, broker and engine too
  newestIn(join(root, 'electron')),
  newestIn(join(root, 'shared')),
  mtime(join(root, 'electron.vite.config.ts')),
)
const builtRelay = join(root, 'out', 'relay', 'relay.mjs')
if (!existsSync(built) || !existsSync(builtRelay) || sources > Math.min(mtime(built), mtime(join(root, 'out', 'main', 'index.js')), mtime(builtRelay))) {
  say('building the app (electron-vite build, and the relay program)…')
  run(process.execPath, [join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'])
  run(process.execPath, [join(root, 'scripts', 'build-relay.mjs')])
}

// 3. Chromium for the browser tests.
if (mode === 'test' && !findChromium()) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    say("installing Debian's chromium for the browser tests (apt-get install chromium)…")
    run('apt-get', ['update', '-qq'])
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], { DEBIAN_FRONTEND: 'noninteractive' })
  }
  if (!findChromium()) {
    say('no Chromium found for the browser tests.')
    say('Install one (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM_PATH=/path/to/chromium, then run npm test again.')
    process.exit(1)
  }
}
// 3b. PostgreSQL for the store conformance tests (a throwaway cluster per run; they skip,
//     saying why, without one) and for benchmarking the Postgres store.
if ((mode === 'test' || mode === 'bench') && !findInitdb()) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    say("installing Debian's postgresql for the Postgres store tests (apt-get install postgresql)…")
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const update = spawnSync('apt-get', ['update', '-qq'], { cwd: root, stdio: 'inherit', env })
    if (update.status === 0) {
      spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], { cwd: root, stdio: 'inherit', env })
    }
  }
  if (!findInitdb()) {
    say('no PostgreSQL server (initdb) found: the Postgres store tests will be skipped, saying why.')
    say('Install it (Debian/Ubuntu: sudo apt-get install postgresql) or set RELAY_TEST_PG_URL to a superuser URL of a running server.')
  }
}
// 4. The real agent CLIs the end-to-end suite and the CLI bench run (test/real-clis: a
//    package folder of its own with its own lockfile, so the app's dependencies stay small).
if (mode === 'test' || mode === 'bench') {
  const rig = join(root, 'test', 'real-clis')
  const rigInstalled = join(rig, 'node_modules', '.package-lock.json')
  if (!existsSync(rigInstalled) || mtime(join(rig, 'package-lock.json')) > mtime(rigInstalled)) {
    say('installing the real agent CLIs for the end-to-end tests (test/real-clis: Claude Code, Codex, Gemini CLI, opencode; about 1.2 GB)…')
    // `npm install --no-save`, not `npm ci`: npm 11 leaves opencode's other-platform binary
    // packages out of the lockfile it writes, and `npm ci` then refuses it as out of sync.
    // --no-save installs the locked versions and leaves the lockfile as committed.
    const r = spawnSync(npm, ['install', '--no-save', '--no-audit', '--no-fund'], { cwd: rig, stdio: 'inherit' })
    if (r.status !== 0) say(`could not install the real agent CLIs (npm install exit ${r.status ?? r.signal}); their tests will be skipped, saying why`)
  }
}

try {
  execFileSync(process.execPath, ['-e', "require('node-pty'); require('better-sqlite3')"], { cwd: root, stdio: 'ignore' })
} catch {
  say('native modules do not load; rebuilding node-pty and better-sqlite3…')
  run(npm, ['rebuild', 'node-pty', 'better-sqlite3'], existsSync('/usr/include/node/node.h') ? { npm_config_nodedir: '/usr' } : {})
}
