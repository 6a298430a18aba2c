import { resolve } from 'node:path'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'
import { injectCspMeta } from './electron/main/csp'

/**
 * Adds the renderer CSP to the built index.html. Build only: the dev server injects an
 * inline React-refresh preamble and an HMR socket that a strict policy would block.
 */
function rendererCsp(): Plugin {
  return {
    name: 'relay-renderer-csp',
    apply: 'build',
    transformIndexHtml: { order: 'post', handler: (html) => injectCspMeta(html) },
  }
}

export default defineConfig({
  main: {
    // dependencies (node-pty, better-sqlite3, ws, zod, hono) stay external: the default
    // externalizeDeps reads package.json, and native modules must never be bundled.
    // Every Node entry is built here, next to index.js, so nothing runs TypeScript at run
    // time: the embedded engine's worker thread (electron/host/embedded-engine.ts), the
    // headless server (`npm run serve`) and the engine server (`npm run engine`). The
    // `relay` program for Node is scripts/build-relay.mjs (out/relay/: split for start-up);
    // the app's --relay-cli runs it from this bundle.
    build: {
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'electron/main/index.ts'),
          'engine-worker': resolve(__dirname, 'electron/host/engine-worker.ts'),
          serve: resolve(__dirname, 'electron/host/serve-cli.ts'),
          engine: resolve(__dirname, 'electron/engine/cli.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      // The preload runs sandboxed, where require() only knows 'electron' and a few
      // builtins; so zod (pulled in by the contract) must be bundled, not externalized.
      externalizeDeps: false,
      rollupOptions: { input: { index: resolve(__dirname, 'electron/preload/index.ts') }, external: ['electron'] },
    },
  },
  renderer: {
    root: resolve(__dirname, 'renderer'),
    build: { rollupOptions: { input: { index: resolve(__dirname, 'renderer/index.html') } } },
    plugins: [react(), rendererCsp()],
  },
})
