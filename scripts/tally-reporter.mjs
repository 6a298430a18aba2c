// A vitest reporter that counts every failure vitest knows about, not only failed tests,
// and writes the tally as JSON to the file named by RELAY_TALLY_FILE.
//
// Why not vitest's JSON reporter: it counts a test whose `beforeAll` threw as skipped, a file
// that fails to import as zero tests, and leaves out `afterAll` failures and uncaught errors,
// so a broken run can read "0 failed". Here those are failures:
// - a failed test;
// - a test that was meant to run (mode "run") but did not, because its file or suite failed
//   (a throwing `beforeAll`, an import error) — counted as `notRun`;
// - an error outside any test: a module or suite error (import, collection, hooks) — `outsideErrors`;
// - an unhandled error (a timer or promise that throws after its test returned) — `unhandled`.
import { writeFileSync } from 'node:fs'

const firstLine = (e) => String(e?.message ?? e ?? 'unknown error').split('\n')[0].slice(0, 300)

export default class TallyReporter {
  onTestRunEnd(testModules, unhandledErrors, reason) {
    const tally = {
      passed: 0,
      failed: 0,
      skipped: 0,
      notRun: 0,
      outsideErrors: 0,
      unhandled: unhandledErrors.length,
      reason,
      problems: [],
    }
    const visitSuite = (entity, where) => {
      const errors = entity.errors()
      tally.outsideErrors += errors.length
      for (const e of errors) tally.problems.push(`${where}: ${firstLine(e)}`)
      return errors.length > 0
    }
    for (const mod of testModules) {
      const file = mod.relativeModuleId
      // A suite that failed leaves its skipped-but-meant-to-run tests unrun.
      const failedScopes = new Set()
      if (visitSuite(mod, file)) failedScopes.add(mod)
      for (const suite of mod.children.allSuites()) {
        if (visitSuite(suite, `${file} > ${suite.fullName}`)) failedScopes.add(suite)
      }
      const inFailedScope = (test) => {
        for (let p = test.parent; p; p = p.type === 'module' ? undefined : p.parent) if (failedScopes.has(p)) return true
        return false
      }
      for (const test of mod.children.allTests()) {
        const r = test.result()
        if (r.state === 'passed') tally.passed++
        else if (r.state === 'failed') {
          tally.failed++
          tally.problems.push(`${file} > ${test.fullName}: ${firstLine(r.errors?.[0])}`)
        } else if (test.options.mode === 'run' && inFailedScope(test)) {
          tally.notRun++
          tally.problems.push(`${file} > ${test.fullName}: did not run (its set-up failed)`)
        } else if (r.state === 'pending' && reason !== 'passed') {
          tally.notRun++
          tally.problems.push(`${file} > ${test.fullName}: did not finish (run ${reason})`)
        } else tally.skipped++
      }
    }
    for (const e of unhandledErrors) tally.problems.push(`unhandled: ${firstLine(e)}`)
    const out = process.env.RELAY_TALLY_FILE
    if (out) writeFileSync(out, JSON.stringify(tally, null, 2))
  }
}

/** Every failure in a tally, as one number. */
export function failuresIn(tally) {
  return tally.failed + tally.notRun + tally.outsideErrors + tally.unhandled
}
