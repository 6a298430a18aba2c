#!/usr/bin/env node
// `relay`: the command agents spawned by Relay Desktop use to talk back (see
// electron/agent-tools/cli.ts, or `relay help`). Loads this project's tsx (resolved
// from this file, so any working directory works) in-process, then runs the TypeScript:
// one Node process per call, no second process to forward stdio and signals to.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../electron/agent-tools/cli.ts', import.meta.url))
try {
  await import('tsx') // = node --import tsx
} catch (err) {
  process.stderr.write(`relay: cannot load tsx from the Relay Desktop folder (${err.message}); run npm install there\n`)
  process.exit(3)
}
if (!existsSync(entry)) {
  process.stderr.write(`relay: ${entry} is missing; this Relay Desktop folder is incomplete\n`)
  process.exit(3)
}
const mod = await import(entry)
const main = mod.main ?? mod.default?.main
await main(process.argv.slice(2))
