/**
 * Body and query parsing. Every body goes through zod so nothing untyped reaches
 * the store; the error names the offending field so callers can fix their request.
 */
import type { Context } from 'hono'
import type { z } from 'zod'
import { ApiError } from './envelope'

export function zodMessage(error: z.ZodError): string {
  const first = error.issues[0]
  if (!first) return 'invalid request'
  const where = first.path.length ? first.path.join('.') : 'body'
  return `${where}: ${first.message}`
}

export async function parseBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text()
  let raw: unknown = {}
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text)
    } catch {
      throw new ApiError(400, 'invalid_json', 'request body is not valid JSON')
    }
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new ApiError(400, 'invalid_request', zodMessage(parsed.error))
  return parsed.data
}

export function parseLimit(c: Context, fallback = 50, max = 200): number {
  const raw = c.req.query('limit')
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1) throw new ApiError(400, 'invalid_request', 'limit: must be a positive integer')
  return Math.min(n, max)
}
