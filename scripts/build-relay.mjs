#!/usr/bin/env node
// Builds the `relay` program (CLI + MCP server) for Node into out/relay/: bundled with its
// dependencies and minified, split so that each command loads only what it uses. An agent
// pays this start-up on every call; most of it was resolving and compiling hundreds of
// small module files (zod, the MCP SDK), and `relay help` needs none of them. ESM output,
// because esbuild splits only ESM; bundled CommonJS dependencies that call require() at
// run time (ajv's generated code) get one from createRequire.
// Inside the desktop app, `--relay-cli` runs the same program from the main bundle.
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const outdir = join(root, 'out', 'relay')
rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints: { relay: join(root, 'electron', 'agent-tools', 'relay-entry.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  banner: { js: "import { createRequire as __relayRequire } from 'node:module'; const require = __relayRequire(import.meta.url);" },
  logLevel: 'warning',
})
