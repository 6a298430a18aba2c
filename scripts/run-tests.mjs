#!/usr/bin/env node
// `npm test`: the unit/integration suite, the browser suite, the real agent CLIs, then one closing
// line `N passed, N failed` (CI reads that line, not vitest's own summary). Arguments after `--`
// go to every vitest run (a filter turns the floors off).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { runSuites } from './test-runner.mjs'

const root = join(import.meta.dirname, '..')
const floors = JSON.parse(readFileSync(join(root, 'test', 'expected-counts.json'), 'utf8'))
const result = runSuites({
  root,
  outDir: join(root, '.ci-out'),
  suites: [
    { name: 'unit', args: [] },
    { name: 'e2e', args: ['-c', 'vitest.e2e.config.mts'] },
    { name: 'clis', args: ['-c', 'vitest.clis.config.mts'] },
  ],
  floors: floors.suites,
  extraArgs: process.argv.slice(2),
})
for (const line of result.lines) console.log(line)
console.log(result.closing)
process.exit(result.exitCode)
