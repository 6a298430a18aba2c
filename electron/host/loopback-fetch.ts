/**
 * `fetch` for the embedded engine on 127.0.0.1, over node:http with kept-alive sockets.
 * The user's sends go through the engine's REST API one request each; under load (200
 * messages/s) undici's fetch cost ~1 ms of the host's event loop per request (streams,
 * abort signals, header guards), the same event loop that carries every keystroke.
 * Only what EngineApi uses: method, headers, a string body, an abort signal; the answer
 * has the Response members EngineApi reads (status, ok, headers.get, text, json).
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http'

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]')
}

/**
 * The part of a Response that callers of this fetch read (status, ok, headers, text/json).
 * Building a real undici Response per request cost as much as the request itself.
 */
function lightResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): Response {
  let text: string | undefined
  const read = () => (text ??= body.toString('utf8'))
  const res = {
    status,
    ok: status >= 200 && status < 300,
    statusText: '',
    headers: {
      get: (name: string) => {
        const v = headers[name.toLowerCase()]
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
      },
    },
    text: async () => read(),
    json: async () => JSON.parse(read()) as unknown,
  }
  return res as unknown as Response
}

export const loopbackFetch: typeof fetch = (input, init) => {
  const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
  if (!isLoopbackHttp(url) || (init?.body !== undefined && init.body !== null && typeof init.body !== 'string')) return fetch(input, init)
  return new Promise<Response>((resolve, reject) => {
    const signal = init?.signal ?? undefined
    if (signal?.aborted) return reject(signal.reason)
    const body = init?.body as string | undefined
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v))
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const req = request(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, path: `${url.pathname}${url.search}`, method: init?.method ?? 'GET', headers, agent },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', fail)
        res.on('end', () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(lightResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks)))
        })
      },
    )
    function fail(err: Error): void {
      signal?.removeEventListener('abort', onAbort)
      // Shaped like fetch's failure, so EngineApi reports the same transport code.
      reject(Object.assign(new TypeError('fetch failed'), { cause: err }))
    }
    function onAbort(): void {
      req.destroy()
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    req.on('error', fail)
    req.end(body)
  })
}
