/** The `{ok,data}` / `{ok:false,error}` envelope every REST answer uses. */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

export class ApiError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, message: string) {
    super(message)
  }
}

/** Data that holds no promise (a promise serialises as `{}`: a forgotten await). */
type Settled<T> = T extends PromiseLike<unknown> ? never : T extends Array<infer E> ? Array<Settled<E>> : T

export function ok<T>(c: Context, data: Settled<T>, status: ContentfulStatusCode = 200): Response {
  return c.json({ ok: true, data }, status)
}

export function errorBody(code: string, message: string): { ok: false; error: { code: string; message: string } } {
  return { ok: false, error: { code, message } }
}

export function fail(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  return c.json(errorBody(code, message), status)
}

export const notFound = (what: string, code = `${what}_not_found`) =>
  new ApiError(404, code, `${what.replace(/_/g, ' ')} not found`)
