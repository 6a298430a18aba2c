// The closing line `N passed, N failed` is what CI reads. These run the real runner over fixture
// suites (test/fixtures/runner) that break in every way vitest does not count as a failed test.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runSuites, type Suite } from '../../scripts/test-runner.mjs'

const root = join(import.meta.dirname, '..', '..')
const config = 'test/fixtures/runner/vitest.fixture.config.mts'
const fixture = (name: string, folder: string): Suite => ({ name, args: ['-c', config], env: { RUNNER_FIXTURE: folder } })
const run = (suites: Suite[], more: { floors?: Record<string, number>; extraArgs?: string[] } = {}) =>
  runSuites({ root, outDir: mkdtempSync(join(tmpdir(), 'runner-test-')), suites, stdio: 'pipe', ...more })

describe('the test runner’s closing line', () => {
  it('counts a throwing beforeAll, an import error, a failing afterAll and an uncaught error as failures', () => {
    const r = run([fixture('broken', 'broken')])
    // 4 tests passed; 2 did not run (their beforeAll threw); 3 errors outside tests
    // (beforeAll, afterAll, the import); 1 unhandled error.
    expect(r.closing).toBe('4 passed, 6 failed, 1 skipped')
    expect(r.exitCode).toBe(1)
    const text = r.lines.join('\n')
    expect(text).toMatch(/needs a server > first: did not run/)
    expect(text).toMatch(/needs a server: server did not start/)
    expect(text).toMatch(/import-error\.fixture\.ts: Cannot find module/)
    expect(text).toMatch(/after-all-throws\.fixture\.ts: clean-up failed/)
    expect(text).toMatch(/unhandled: late uncaught error/)
  }, 60_000)

  it('reads a sound suite as sound', () => {
    const r = run([fixture('sound', 'sound')])
    expect(r.closing).toBe('2 passed, 0 failed, 1 skipped')
    expect(r.exitCode).toBe(0)
  }, 60_000)

  it('fails a suite that ran fewer tests than its floor, unless the run was filtered', () => {
    const short = run([fixture('sound', 'sound')], { floors: { sound: 3 } })
    expect(short.closing).toBe('2 passed, 1 failed, 1 skipped')
    expect(short.lines.join('\n')).toMatch(/only 2 tests ran, fewer than the 3 expected/)
    expect(short.exitCode).toBe(1)
    const filtered = run([fixture('sound', 'sound')], { floors: { sound: 3 }, extraArgs: ['sound.fixture'] })
    expect(filtered.closing).toBe('2 passed, 0 failed, 1 skipped')
  }, 60_000)

  it('counts a suite that could not start at all as a failure', () => {
    const r = run([{ name: 'missing', args: ['-c', 'test/fixtures/runner/no-such.config.mts'] }, fixture('sound', 'sound')])
    expect(r.closing).toBe('2 passed, 1 failed, 1 skipped')
    expect(r.lines.join('\n')).toMatch(/missing: vitest wrote no tally/)
    expect(r.exitCode).toBe(1)
  }, 60_000)
})
