/**
 * Starts the embedded engine: in a worker thread where a runnable worker file exists
 * (the built app: out/main/engine-worker.js; `npm run serve` under tsx: the .ts file),
 * else in this thread (tests under vitest, which cannot load a .ts worker).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { startEngine } from '../engine'

export type EngineLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => void

export interface EmbeddedEngine {
  url: string
  port: number
  isolation: 'worker' | 'inline'
  close(reason?: string): Promise<void>
}

/** Where a worker entry can be loaded from here; undefined = run inline. */
export function workerEntry(dir: string = __dirname, execArgv: string[] = process.execArgv): string | undefined {
  const built = join(dir, 'engine-worker.js')
  if (existsSync(built)) return built
  // A .ts worker only loads when this process runs under tsx (workers inherit its loader).
  const source = join(dir, 'engine-worker.ts')
  const underTsx = execArgv.some((a) => a.includes('tsx'))
  return underTsx && existsSync(source) ? source : undefined
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
  // A .ts entry (under tsx) gets tsx's require hook inside the thread: ESM loader hooks
  // registered by `tsx` in this thread do not reach workers on Node 20.
  const worker = entry.endsWith('.ts')
    ? new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(entry)})`, {
        eval: true,
        workerData: { dataDir },
      })
    : new Worker(entry, { workerData: { dataDir } })
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
