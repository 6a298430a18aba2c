/**
 * Where the renderer lives, and whether a URL is ours. One definition serves three
 * checks that must agree: what the window loads, which navigations are allowed, and
 * which IPC senders are trusted.
 */
import { pathToFileURL } from 'node:url'

export interface RendererLocation {
  /** Either `{ url }` (dev server) or `{ file }` (built renderer), for BrowserWindow. */
  target: { url: string } | { file: string }
  /** True when `url` is a document of our renderer (query and hash ignored). */
  isAppUrl(url: string): boolean
}

export function rendererLocation(options: { devServerUrl?: string; indexFile: string }): RendererLocation {
  const dev = options.devServerUrl ? safeUrl(options.devServerUrl) : null
  if (dev && (dev.protocol === 'http:' || dev.protocol === 'https:')) {
    // The dev server serves many paths (HMR, module URLs); the origin is what we trust.
    const origin = dev.origin
    return { target: { url: dev.href }, isAppUrl: (url) => safeUrl(url)?.origin === origin }
  }
  // A built renderer is a single document: trust exactly that file, not its directory,
  // so a file:// page written elsewhere on disk can never talk to the host.
  const indexHref = pathToFileURL(options.indexFile).href
  return {
    target: { file: options.indexFile },
    isAppUrl(url) {
      const parsed = safeUrl(url)
      if (!parsed || parsed.protocol !== 'file:') return false
      parsed.hash = ''
      parsed.search = ''
      return parsed.href === indexHref
    },
  }
}

function safeUrl(url: string): URL | null {
  try {
    return new URL(url)
  } catch {
    return null
  }
}
