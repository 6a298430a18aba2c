/**
 * Waiting in tests, always with a bound and never a bare sleep: `waitFor` re-checks a
 * condition until it holds (10 ms re-check for sources that cannot notify, such as a
 * PTY's accumulated output), and fails with what it was waiting for.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export async function waitFor<T>(
  check: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `relay-${prefix}-`))
}
