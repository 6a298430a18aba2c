/**
 * Runs `npm run serve` as a child process (the way a user runs it) on a free port with
 * a temp data dir, and hands back the URL it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { tempDir } from './wait'

export interface ServeProcess {
  url: string
  dataDir: string
  child: ChildProcess
  stderr: () => string
  stop: () => Promise<number | null>
}

const root = resolve(__dirname, '../..')

export function startServe(extraArgs: string[] = [], timeoutMs = 30_000): Promise<ServeProcess> {
  const dataDir = tempDir('serve')
  const child = spawn(
    process.execPath,
    // The built program, exactly what `npm run serve` runs (npm test's set-up builds it).
    [join(root, 'out/main/serve.js'), '--port', '0', '--data-dir', dataDir, '--quiet', ...extraArgs],
    { cwd: root, env: { ...process.env, RELAY_NODE_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  let err = ''
  child.stderr?.on('data', (d) => (err += d))
  const stop = () =>
    new Promise<number | null>((r) => {
      if (child.exitCode !== null) return r(child.exitCode)
      child.once('exit', (code) => r(code))
      child.kill('SIGTERM')
    })
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`serve did not print its URL within ${timeoutMs} ms; stderr:\n${err}`))
    }, timeoutMs)
    child.stdout?.on('data', (d) => {
      out += d
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolvePromise({ url: m[1] as string, dataDir, child, stderr: () => err, stop })
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code} before printing its URL; stderr:\n${err}`))
    })
  })
}
