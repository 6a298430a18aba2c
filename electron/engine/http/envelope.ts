/** The `{ok,data}` / `{ok:false,error}` envelope every REST answer uses. */
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

export class ApiError extends Error {
  constructor(readonly status: ContentfulStatusCode, readonly code: string, message: string) {
    super(message)
  }
}

export function ok(c: Context, data: unknown, status: ContentfulStatusCode = 200): Response {
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
