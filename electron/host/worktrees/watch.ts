/**
 * Tells when files in a worktree change, so a diff view can refresh. Batched: one call per
 * burst of changes (debounced, with a ceiling so a steady stream of writes still refreshes).
 *
 * macOS and Windows watch a tree natively (fs.watch recursive). Linux has no recursive
 * inotify, and Node's emulation watches everything under the root, .git and node_modules
 * included; here each folder is watched on its own, skipping .git and the folders git
 * ignores, and folders created later are added as they appear.
 */
import { watch, type FSWatcher } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { git, runGit } from './git'

export interface WatchOptions {
  /** quiet time before a batch is reported; default 150 ms */
  debounceMs?: number
  /** a batch is reported at the latest this long after its first change; default 1,000 ms */
  maxWaitMs?: number
  /** watch errors (a folder vanished, the OS limit on watches); the watcher keeps going */
  onError?: (error: Error) => void
  /** default: 'native' on macOS and Windows, 'walk' elsewhere */
  strategy?: 'native' | 'walk'
}

export interface WorktreeWatcher {
  close(): void
}

/** Paths relative to the root, '/'-separated. */
export type ChangeListener = (paths: string[]) => void

function isGitPath(rel: string): boolean {
  return rel.split('/').includes('.git')
}

async function ignoredFolders(root: string): Promise<Set<string>> {
  try {
    const out = await git(['ls-files', '--others', '--ignored', '--exclude-standard', '--directory', '-z'], { cwd: root, timeoutMs: 60_000 })
    return new Set(out.split('\0').filter((p) => p.endsWith('/')).map((p) => p.slice(0, -1)))
  } catch {
    return new Set() // not a repository, or git failed: watch everything but .git
  }
}

/** Watches `root` until close(); resolves once the watches are in place. */
export async function watchWorktree(root: string, onChange: ChangeListener, opts: WatchOptions = {}): Promise<WorktreeWatcher> {
  const debounceMs = opts.debounceMs ?? 150
  const maxWaitMs = opts.maxWaitMs ?? 1_000
  const strategy = opts.strategy ?? (process.platform === 'darwin' || process.platform === 'win32' ? 'native' : 'walk')
  const report = (e: unknown) => opts.onError?.(e instanceof Error ? e : new Error(String(e)))
  const ignored = await ignoredFolders(root)
  const isSkipped = (rel: string) => {
    if (isGitPath(rel)) return true
    for (let at = rel.indexOf('/'); ; at = rel.indexOf('/', at + 1)) {
      if (ignored.has(at === -1 ? rel : rel.slice(0, at))) return true
      if (at === -1) return false
    }
  }

  let closed = false
  const pending = new Set<string>()
  let quiet: NodeJS.Timeout | undefined
  let ceiling: NodeJS.Timeout | undefined
  const flush = () => {
    clearTimeout(quiet)
    clearTimeout(ceiling)
    quiet = ceiling = undefined
    if (closed || pending.size === 0) return
    const paths = [...pending].sort()
    pending.clear()
    try {
      onChange(paths)
    } catch (e) {
      report(e)
    }
  }
  const changed = (rel: string) => {
    if (closed || isSkipped(rel)) return
    pending.add(rel)
    clearTimeout(quiet)
    quiet = setTimeout(flush, debounceMs)
    ceiling ??= setTimeout(flush, maxWaitMs)
  }

  const watchers = new Map<string, FSWatcher>()
  const close = () => {
    closed = true
    clearTimeout(quiet)
    clearTimeout(ceiling)
    for (const w of watchers.values()) w.close()
    watchers.clear()
  }

  if (strategy === 'native') {
    const w = watch(root, { recursive: true }, (_event, name) => {
      changed(name ? String(name).split(sep).join('/') : '')
    })
    w.on('error', report)
    watchers.set('', w)
    return { close }
  }

  let limitReported = false
  const drop = (rel: string) => {
    for (const [dir, w] of watchers) {
      if (dir === rel || dir.startsWith(rel + '/')) {
        w.close()
        watchers.delete(dir)
      }
    }
  }
  const addTree = async (rel: string): Promise<void> => {
    if (closed || watchers.has(rel) || (rel && isSkipped(rel))) return
    const abs = rel ? join(root, rel) : root
    let w: FSWatcher
    try {
      w = watch(abs, (event, name) => onEvent(rel, event, name ? String(name) : null))
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOSPC' || code === 'EMFILE') {
        if (!limitReported) report(new Error(`cannot watch every folder of ${root}: the system limit on file watches is reached (${code}); some changes will not refresh the diff`))
        limitReported = true
      } else if (code !== 'ENOENT') report(e)
      return
    }
    w.on('error', (e) => {
      drop(rel)
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') report(e)
    })
    watchers.set(rel, w)
    let entries
    try {
      entries = await readdir(abs, { withFileTypes: true })
    } catch {
      return // vanished meanwhile; its watcher reports or errors
    }
    for (const entry of entries) {
      if (entry.isDirectory()) await addTree(rel ? `${rel}/${entry.name}` : entry.name)
    }
  }
  const onEvent = (dir: string, event: string, name: string | null) => {
    const rel = name ? (dir ? `${dir}/${name}` : name) : dir
    if (closed || isSkipped(rel)) return
    changed(rel)
    if (event !== 'rename' || !name) return
    stat(join(root, rel)).then(
      async (s) => {
        if (!s.isDirectory() || watchers.has(rel)) return
        // A folder that appeared: watch it unless git ignores it (node_modules, build output...).
        const r = await runGit(['check-ignore', '-q', '--', rel], { cwd: root, okExitCodes: [1, 128] }).catch(() => null)
        if (r?.exitCode === 0) {
          ignored.add(rel)
          return
        }
        await addTree(rel)
        changed(rel) // files written before its watch began are covered by this report
      },
      () => drop(rel),
    ).catch(report)
  }

  await addTree('')
  if (!watchers.has('')) {
    close()
    throw new Error(`cannot watch ${root}: it does not exist or is not readable`)
  }
  return { close }
}
