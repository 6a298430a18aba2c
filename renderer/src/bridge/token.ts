/**
 * The headless host prints a URL with `?token=…`. Keep the token in sessionStorage so a
 * reload of a URL without the query (or after navigation) still authenticates, while a new
 * browser session has to use the printed URL again.
 */
const KEY = 'relay.ipcToken'

export function resolveToken(search: string, storage: Pick<Storage, 'getItem' | 'setItem'> | undefined): string | null {
  const fromUrl = new URLSearchParams(search).get('token')
  if (fromUrl) {
    try {
      storage?.setItem(KEY, fromUrl)
    } catch {
      // Storage can be disabled; the token from the URL still works for this load.
    }
    return fromUrl
  }
  try {
    return storage?.getItem(KEY) ?? null
  } catch {
    return null
  }
}

export function ipcSocketUrl(location: Pick<Location, 'protocol' | 'host'>, token: string | null): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  const query = token ? `?token=${encodeURIComponent(token)}` : ''
  return `${scheme}://${location.host}/ipc${query}`
}
