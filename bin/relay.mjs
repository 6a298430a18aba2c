#!/usr/bin/env node
// `relay`: the command agents spawned by Relay Desktop use to talk back (see
// electron/agent-tools/cli.ts, or `relay help`). Runs the built program,
// out/relay/relay.mjs (scripts/build-relay.mjs) — no TypeScript at run time.
import { existsSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const entry = fileURLToPath(new URL('../out/relay/relay.mjs', import.meta.url))
if (!existsSync(entry)) {
  process.stderr.write(`relay: ${entry} is missing; build Relay Desktop first (npm run build, or npm start)\n`)
  process.exit(3)
}
await import(pathToFileURL(entry).href)
