/**
 * Starts the embedded engine: in a worker thread where the built worker sits next to this
 * module (out/main/engine-worker.js: the app, `npm run serve`), else in this thread (code
 * run from source, e.g. tests under vitest).
 */
import { existsSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { startEngine } from '../engine'

export type EngineLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void

export interface EmbeddedEngine {
  url: string
  port: number
  isolation: 'worker' | 'inline'
  close(reason?: string): Promise<void>
}

/**
 * Where a worker entry can be loaded from here; undefined = run inline. The build shares
 * this module between the app and `npm run serve`, so it lands in out/main/chunks/ while
 * the worker entry sits one level up, next to index.js and serve.js (missing that ran the
 * engine on the host's event loop, under every PTY chunk and keystroke).
 */
export function workerEntry(dir: string = __dirname): string | undefined {
  const dirs = basename(dir) === 'chunks' ? [dir, dirname(dir)] : [dir]
  for (const d of dirs) {
    const built = join(d, 'engine-worker.js')
    if (existsSync(built)) return built
  }
  return undefined
}

/**
 * `entry`: a worker entry to use (default: found next to this module), or 'inline'.
 * `onCrash`: the engine thread ended without being asked to (the host must say so).
 */
export async function startEmbeddedEngine(
  dataDir: string,
  log: EngineLog,
  entry: string | 'inline' | undefined = workerEntry(),
  onCrash: (why: string) => void = () => undefined,
): Promise<EmbeddedEngine> {
  if (entry === 'inline') entry = undefined
  if (!entry) {
    const engine = await startEngine({ port: 0, dataDir, log: (l, m) => log(l, m) })
    return { url: engine.url, port: engine.port, close: (reason) => engine.close(reason), isolation: 'inline' }
  }
  const worker = new Worker(entry, { workerData: { dataDir } })
  const url = await new Promise<string>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`the engine thread exited (${code}) before it listened`))
    worker.once('exit', onExit)
    worker.once('error', reject)
    worker.on('message', (m: { type: string; url?: string; message?: string; level?: string; msg?: string }) => {
      if (m.type === 'log') log((m.level as Parameters<EngineLog>[0]) ?? 'info', m.msg ?? '')
      else if (m.type === 'ready' && m.url) {
        worker.off('exit', onExit)
        resolve(m.url)
      } else if (m.type === 'failed') reject(new Error(m.message ?? 'engine failed to start'))
    })
  })
  let closing: Promise<void> | undefined
  worker.on('error', (err) => log('error', `engine thread failed: ${err.message}`))
  worker.on('exit', (code) => {
    if (!closing) onCrash(`the embedded engine stopped unexpectedly (exit ${code})`)
  })
  return {
    url,
    port: Number(new URL(url).port),
    isolation: 'worker',
    close(reason = 'engine_shutdown') {
      closing ??= new Promise<void>((resolve) => {
        const done = () => resolve()
        worker.once('exit', done)
        worker.on('message', (m: { type: string }) => {
          if (m.type === 'closed') void worker.terminate().then(done, done)
        })
        worker.postMessage({ type: 'close', reason })
        // A wedged engine must not hold the app's quit forever.
        setTimeout(() => void worker.terminate().then(done, done), 5000).unref()
      })
      return closing
    },
  }
}
