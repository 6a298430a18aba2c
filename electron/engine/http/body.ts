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

/**
 * The path of the first string (or key) holding U+0000, if any. PostgreSQL cannot store it in
 * text, and no client means it: refused at the edge, the same on either store.
 */
export function nulPath(value: unknown, path: string[] = []): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? (path.join('.') || 'body') : undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = nulPath(value[i], [...path, String(i)])
      if (hit) return hit
    }
    return undefined
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) return [...path, k.replace(/\u0000/g, '\\0')].join('.')
      const hit = nulPath(v, [...path, k])
      if (hit) return hit
    }
  }
  return undefined
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
    const nul = nulPath(raw)
    if (nul) throw new ApiError(400, 'invalid_request', `${nul}: must not contain NUL characters (U+0000)`)
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
