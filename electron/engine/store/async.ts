/**
 * `asyncStore(store)`: the synchronous (SQLite) store seen through the AsyncStore port,
 * so code and tests written against AsyncStore run on either backend. Each call runs the
 * synchronous method at once and resolves with its result (a throw becomes a rejection).
 * The wrapping is generic (a Proxy per repository), so a method added to a repository
 * later is wrapped without touching this file.
 */
import type { AsyncStore, Store } from './types'

function promisify<T extends object>(repo: T): T {
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(repo, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target)
      if (typeof value !== 'function') return value
      let fn = wrapped.get(prop)
      if (!fn) {
        fn = (...args: unknown[]) => {
          try {
            return Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args))
          } catch (err) {
            return Promise.reject(err)
          }
        }
        wrapped.set(prop, fn)
      }
      return fn
    },
  })
}

export function asyncStore(store: Store): AsyncStore {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(store) as Array<[string, unknown]>) {
    if (typeof value === 'function') {
      out[key] = (...args: unknown[]) => {
        try {
          return Promise.resolve((value as (...a: unknown[]) => unknown).apply(store, args))
        } catch (err) {
          return Promise.reject(err)
        }
      }
    } else if (value && typeof value === 'object') {
      out[key] = promisify(value)
    } else {
      out[key] = value
    }
  }
  return out as unknown as AsyncStore
}
