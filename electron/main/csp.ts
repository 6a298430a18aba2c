/**
 * The renderer's Content-Security-Policy. It is injected as a <meta> into the built
 * index.html by electron.vite.config.ts (a file:// document gets no response headers
 * we could set), so it also applies when the headless host serves the same build.
 *
 * - no 'unsafe-eval' and no inline script: an injected string can never run as code.
 * - style-src allows inline styles because xterm.js writes its theme into <style>
 *   elements; styles cannot run code.
 * - connect-src 'self' covers the headless transport (same-origin ws://, per CSP3);
 *   inside Electron the renderer needs no network at all, it uses IPC.
 */
export const RENDERER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ')

/**
 * Adds the CSP meta right after <head>. Always added, even when the page declares its own:
 * several policies are all enforced, so the page can tighten ours but never loosen it.
 * Throws when there is no <head>, so a build can't silently ship without a policy.
 */
export function injectCspMeta(html: string, csp: string = RENDERER_CSP): string {
  if (!/<head(\s[^>]*)?>/i.test(html)) throw new Error('renderer index.html has no <head>; cannot add the CSP')
  const meta = `<meta http-equiv="Content-Security-Policy" content="${csp}">`
  return html.replace(/<head(\s[^>]*)?>/i, (head) => `${head}\n    ${meta}`)
}
