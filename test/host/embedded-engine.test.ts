/** The embedded engine runs in its own thread where a worker entry exists, inline otherwise. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { startEmbeddedEngine, workerEntry } from '../../electron/host/embedded-engine'
import { tempDir, waitFor } from '../support/wait'

const built = resolve(__dirname, '../../out/main/engine-worker.js')

describe('embedded engine', () => {
  it('uses the built worker beside it, never TypeScript; without one the engine runs inline', () => {
    const dir = tempDir('entry')
    expect(workerEntry(dir)).toBeUndefined()
    writeFileSync(join(dir, 'engine-worker.ts'), '')
    expect(workerEntry(dir)).toBeUndefined()
    writeFileSync(join(dir, 'engine-worker.js'), '')
    expect(workerEntry(dir)).toBe(join(dir, 'engine-worker.js'))
  })

  it('finds the worker from a shared chunk of the build (out/main/chunks/ → out/main/)', () => {
    const dir = tempDir('entry')
    const chunks = join(dir, 'chunks')
    mkdirSync(chunks)
    expect(workerEntry(chunks)).toBeUndefined()
    writeFileSync(join(dir, 'engine-worker.js'), '')
    expect(workerEntry(chunks)).toBe(join(dir, 'engine-worker.js'))
  })

  it.skipIf(!existsSync(built))('the built serve program runs the engine in its own thread', async () => {
    const { spawn } = await import('node:child_process')
    const child = spawn(process.execPath, [resolve(built, '../serve.js'), '--port', '0', '--data-dir', tempDir('serve-iso')], {
      env: { ...process.env, RELAY_NODE_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    try {
      const line = await waitFor(() => /embedded engine at \S+ \(([^)]+)\)/.exec(err)?.[1], 'the engine start line', 20_000)
      expect(line).toBe('own thread')
    } finally {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
  })

  it.skipIf(!existsSync(built))('serves from a worker thread and shuts down on close (built app)', async () => {
    const dataDir = tempDir('ew')
    mkdirSync(dataDir, { recursive: true })
    const logs: string[] = []
    const engine = await startEmbeddedEngine(dataDir, (_l, m) => logs.push(m), built)
    expect(engine.isolation).toBe('worker')
    const health = await fetch(`${engine.url}/health`).then((r) => r.json())
    expect(health).toEqual({ ok: true, data: { status: 'ok', instance: expect.stringMatching(/^eng_/), leader: true } })
    await engine.close('test over')
    await expect(fetch(`${engine.url}/health`)).rejects.toThrow()
    expect(logs.join('\n')).toMatch(/engine stopped/)
  })

  it('reports an engine thread that dies after it started', async () => {
    const dir = tempDir('crash')
    const entry = join(dir, 'engine-worker.js')
    writeFileSync(
      entry,
      "const { parentPort } = require('node:worker_threads'); parentPort.postMessage({ type: 'ready', url: 'http://127.0.0.1:9' }); setImmediate(() => process.exit(3))",
    )
    let crashed: string | undefined
    const engine = await startEmbeddedEngine(dir, () => undefined, entry, (why) => (crashed = why))
    expect(engine.isolation).toBe('worker')
    await waitFor(() => crashed, 'the crash report')
    expect(crashed).toMatch(/stopped unexpectedly \(exit 3\)/)
  })

  it('runs inline when asked', async () => {
    const engine = await startEmbeddedEngine(tempDir('ei'), () => undefined, 'inline')
    expect(engine.isolation).toBe('inline')
    expect((await fetch(`${engine.url}/health`)).status).toBe(200)
    await engine.close()
  })
})
