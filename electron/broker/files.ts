/**
 * Small file helpers the broker and the host share. Secrets and cursors are written
 * atomically (temp file, chmod, rename): a crash never leaves half a token or a cursor.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, watch, writeFileSync, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'

export function writeFileAtomic(path: string, text: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text, { mode })
  chmodSync(tmp, mode)
  renameSync(tmp, path)
}

/** ANSI escape sequences (CSI, OSC, two-character escapes): what terminals draw, not text. */
export const ANSI_SEQUENCE = /\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g

/**
 * Resolves true once `path` exists, false after `timeoutMs` or when `cancel` fires.
 * Watches the folder (inotify and the like) rather than polling; the folder must exist.
 */
export function waitForFile(path: string, timeoutMs: number): { done: Promise<boolean>; cancel: () => void } {
  let finish: (v: boolean) => void = () => undefined
  const done = new Promise<boolean>((resolve) => (finish = resolve))
  if (existsSync(path)) return { done: Promise.resolve(true), cancel: () => undefined }
  let watcher: FSWatcher | undefined
  const settle = (v: boolean) => {
    clearTimeout(timer)
    watcher?.close()
    finish(v)
  }
  const timer = setTimeout(() => settle(existsSync(path)), timeoutMs)
  timer.unref?.()
  try {
    watcher = watch(dirname(path), () => {
      if (existsSync(path)) settle(true)
    })
    watcher.on('error', () => undefined)
    // Created between the first check and the watch.
    if (existsSync(path)) settle(true)
  } catch {
    // No watcher here: the timeout still answers.
  }
  return { done, cancel: () => settle(false) }
}
