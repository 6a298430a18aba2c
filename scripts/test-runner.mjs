// Runs vitest suites one after another and adds up what happened, for the closing line CI
// reads: `N passed, N failed`. Every failure vitest knows about counts (see tally-reporter.mjs),
// a suite that wrote no tally counts as failed, a vitest that exits non-zero with nothing
// counted still counts one failure, and a suite that ran fewer tests than its floor fails:
// a whole file quietly skipped must not pass as green.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { failuresIn } from './tally-reporter.mjs'

const here = import.meta.dirname

/**
 * @param {{ root: string, outDir: string, suites: Array<{ name: string, args: string[], env?: Record<string,string> }>,
 *           floors?: Record<string, number>, extraArgs?: string[], stdio?: 'inherit' | 'pipe' }} opts
 */
export function runSuites({ root, outDir, suites, floors = {}, extraArgs = [], stdio = 'inherit' }) {
  mkdirSync(outDir, { recursive: true })
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs')
  const reporter = join(here, 'tally-reporter.mjs')
  const total = { passed: 0, failed: 0, skipped: 0 }
  const lines = []
  for (const suite of suites) {
    const tallyFile = join(outDir, `${suite.name}.tally.json`)
    rmSync(tallyFile, { force: true })
    const r = spawnSync(process.execPath, [vitest, 'run', ...suite.args, '--reporter=default', `--reporter=${reporter}`, ...extraArgs], {
      cwd: root,
      stdio,
      env: { ...process.env, ...suite.env, RELAY_TALLY_FILE: tallyFile },
    })
    if (!existsSync(tallyFile)) {
      lines.push(`${suite.name}: vitest wrote no tally (exit ${r.status ?? r.signal}); counted as 1 failure`)
      total.failed++
      continue
    }
    const t = JSON.parse(readFileSync(tallyFile, 'utf8'))
    let failed = failuresIn(t)
    const problems = [...t.problems]
    if (r.status !== 0 && failed === 0) {
      failed = 1
      problems.push(`vitest exited ${r.status ?? r.signal} but reported no failure`)
    }
    const ran = t.passed + t.failed
    const floor = extraArgs.length ? undefined : floors[suite.name]
    if (floor !== undefined && ran < floor) {
      failed++
      problems.push(`only ${ran} tests ran, fewer than the ${floor} expected (test/expected-counts.json)`)
    }
    total.passed += t.passed
    total.failed += failed
    total.skipped += t.skipped
    const parts = [`${t.passed} passed`, `${failed} failed`]
    if (t.notRun) parts.push(`${t.notRun} did not run`)
    if (t.outsideErrors) parts.push(`${t.outsideErrors} errors outside tests`)
    if (t.unhandled) parts.push(`${t.unhandled} unhandled errors`)
    if (t.skipped) parts.push(`${t.skipped} skipped`)
    lines.push(`${suite.name}: ${parts.join(', ')}`)
    for (const p of problems) lines.push(`  ✗ ${p}`)
  }
  if (total.passed === 0 && total.failed === 0) {
    lines.push('no tests ran; counted as 1 failure')
    total.failed = 1
  }
  const closing = `${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`
  return { ...total, lines, closing, exitCode: total.failed > 0 ? 1 : 0 }
}
