import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'

const TSX = join(process.cwd(), 'node_modules/.bin/tsx')
const CLI = join(process.cwd(), 'electron/engine/cli.ts')
const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

describe('engine CLI', () => {
  it('prints the bound URL on its own line, serves /health, exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-engine-cli-'))
    dirs.push(dir)
    const child = spawn(TSX, [CLI, '--port', '0', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = exitOf(child)
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! })
      rl.once('line', resolve)
      child.once('exit', (code) => reject(new Error(`cli exited early (${code})`)))
    })
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(line.endsWith(':0')).toBe(false)
    const health = await fetch(`${line}/health`)
    expect(await health.json()).toEqual({ ok: true, data: { status: 'ok' } })
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 20_000)

  it('bad arguments → usage error, exit 2', async () => {
    const child = spawn(TSX, [CLI, '--port', 'abc'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    expect(await exitOf(child)).toBe(2)
    expect(stderr).toContain('usage:')
  }, 20_000)
})
