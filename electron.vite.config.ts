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
    // The embedded engine runs in a worker thread (electron/host/embedded-engine.ts): its
    // entry is built next to index.js.
    build: {
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'electron/main/index.ts'),
          'engine-worker': resolve(__dirname, 'electron/host/engine-worker.ts'),
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
