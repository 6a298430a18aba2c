import { describe, expect, it } from 'vitest'
import { RENDERER_CSP, injectCspMeta } from '../../electron/main/csp'
import { rendererLocation } from '../../electron/main/renderer-location'

describe('renderer CSP', () => {
  it('allows no inline or eval script', () => {
    const script = RENDERER_CSP.split('; ').find((d) => d.startsWith('script-src'))
    expect(script).toBe("script-src 'self'")
    expect(RENDERER_CSP).not.toContain('unsafe-eval')
    expect(RENDERER_CSP).toContain("object-src 'none'")
  })

  it('goes first in <head>, before any script', () => {
    const html = '<!doctype html><html><head lang="en"><script type="module" src="./a.js"></script></head><body><header></header></body></html>'
    const out = injectCspMeta(html)
    expect(out.indexOf('Content-Security-Policy')).toBeLessThan(out.indexOf('<script'))
    expect(out.indexOf('Content-Security-Policy')).toBeGreaterThan(out.indexOf('<head lang="en">'))
    expect(out.match(/Content-Security-Policy/g)).toHaveLength(1)
  })

  it('refuses a page without <head>', () => {
    expect(() => injectCspMeta('<html><header></header></html>')).toThrow(/no <head>/)
  })
})

describe('renderer location', () => {
  it('trusts exactly the built index.html', () => {
    const loc = rendererLocation({ indexFile: '/app/out/renderer/index.html' })
    expect(loc.target).toEqual({ file: '/app/out/renderer/index.html' })
    expect(loc.isAppUrl('file:///app/out/renderer/index.html#/agents?x=1')).toBe(true)
    expect(loc.isAppUrl('file:///app/out/renderer/other.html')).toBe(false)
    expect(loc.isAppUrl('file:///app/out/renderer/../renderer2/index.html')).toBe(false)
    expect(loc.isAppUrl('https://app/out/renderer/index.html')).toBe(false)
    expect(loc.isAppUrl('garbage')).toBe(false)
  })

  it('trusts the dev server origin only', () => {
    const loc = rendererLocation({ devServerUrl: 'http://localhost:5173', indexFile: '/x' })
    expect(loc.target).toEqual({ url: 'http://localhost:5173/' })
    expect(loc.isAppUrl('http://localhost:5173/@vite/client')).toBe(true)
    expect(loc.isAppUrl('http://localhost.evil.com:5173/')).toBe(false)
  })

  it('ignores a dev URL that is not http(s)', () => {
    expect(rendererLocation({ devServerUrl: 'file:///tmp/x.html', indexFile: '/app/i.html' }).target).toEqual({ file: '/app/i.html' })
  })
})
