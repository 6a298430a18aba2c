/**
 * Runs the git CLI: execFile (never a shell), a bounded time, no prompts, the C locale so
 * messages and porcelain output are stable, and no optional locks so that read-only
 * commands like `git status` never rewrite the user's index behind their back.
 */
import { execFile, spawn } from 'node:child_process'
import { statSync } from 'node:fs'

export type GitErrorKind =
  /** git ran and exited non-zero */
  | 'exit'
  /** no `git` executable on PATH */
  | 'missing'
  /** killed after the timeout */
  | 'timeout'
  /** could not start, killed by a signal, or output past the buffer limit */
  | 'failed'

export class GitError extends Error {
  constructor(
    readonly kind: GitErrorKind,
    /** `git <args>` as one line, for messages and logs */
    readonly command: string,
    readonly exitCode: number | null,
    /** stderr, trimmed */
    readonly stderr: string,
    message: string,
  ) {
    super(message)
    this.name = 'GitError'
  }
}

export interface GitOptions {
  cwd: string
  /** default 30 s */
  timeoutMs?: number
  /** extra environment on top of process.env and the fixed git variables */
  env?: Record<string, string>
  /** default 64 MiB */
  maxBuffer?: number
  /** exit codes that are answers, not failures (e.g. 1 for `show-ref --quiet`) */
  okExitCodes?: number[]
}

export interface GitResult {
  stdout: string
  exitCode: number
}

const DEFAULT_TIMEOUT_MS = 30_000
const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024

/**
 * Variables that point git at another repository or index. Inherited from a parent (a git
 * hook that started the app, a test run from one) they would silently redirect every command.
 */
const REPO_LOCATING = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_NAMESPACE',
  'GIT_PREFIX',
  'GIT_LITERAL_PATHSPECS',
  'GIT_GLOB_PATHSPECS',
  'GIT_NOGLOB_PATHSPECS',
  'GIT_ICASE_PATHSPECS',
]

export function gitEnv(extra?: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = { ...process.env }
  for (const name of REPO_LOCATING) delete inherited[name]
  return {
    ...inherited,
    GIT_TERMINAL_PROMPT: '0',
    GIT_OPTIONAL_LOCKS: '0',
    LC_ALL: 'C',
    LANG: 'C',
    // An askpass helper in the user's environment would still pop a dialog.
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    ...extra,
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

function describe(args: string[]): string {
  return ['git', ...args].map((a) => (/^[\w./:=@^{}~+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')
}

function failure(args: string[], cwd: string, code: unknown, signal: unknown, stderr: string, timedOut: boolean, cause?: Error): GitError {
  const command = describe(args)
  const err = stderr.trim()
  if (cause && (cause as NodeJS.ErrnoException).code === 'ENOENT' && typeof code !== 'number') {
    // spawn reports a missing cwd as ENOENT too; say which one it was.
    if (!isDirectory(cwd)) return new GitError('failed', command, null, err, `${command}: folder ${cwd} does not exist`)
    return new GitError('missing', command, null, err, 'git is not installed or not on PATH')
  }
  if (timedOut) return new GitError('timeout', command, null, err, `${command} timed out in ${cwd}`)
  if (typeof code === 'number') {
    return new GitError('exit', command, code, err, `${command} failed (exit ${code})${err ? `: ${err}` : ''}`)
  }
  const why = signal ? `killed by ${String(signal)}` : (cause?.message ?? 'unknown error')
  return new GitError('failed', command, null, err, `${command} failed in ${cwd}: ${why}${err ? `: ${err}` : ''}`)
}

/** Runs `git ...args`; resolves with stdout, rejects with a GitError. */
export function runGit(args: string[], opts: GitOptions): Promise<GitResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd: opts.cwd, env: gitEnv(opts.env), timeout, maxBuffer: opts.maxBuffer ?? DEFAULT_MAX_BUFFER, encoding: 'utf8', windowsHide: true },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, exitCode: 0 })
        const e = error as NodeJS.ErrnoException & { code?: unknown; signal?: unknown; killed?: boolean }
        if (typeof e.code === 'number' && opts.okExitCodes?.includes(e.code)) return resolve({ stdout, exitCode: e.code })
        const timedOut = e.killed === true && e.signal === 'SIGTERM' && timeout > 0
        reject(failure(args, opts.cwd, e.code, e.signal, String(stderr ?? ''), timedOut, e))
      },
    )
  })
}

/** `runGit` for the common case: stdout only. */
export async function git(args: string[], opts: GitOptions): Promise<string> {
  return (await runGit(args, opts)).stdout
}

/**
 * Runs git and hands its stdout to `onLine` one line at a time (without the newline), so
 * output of any size is parsed in bounded memory. Resolves when git exits 0.
 */
export function streamGitLines(args: string[], opts: Omit<GitOptions, 'maxBuffer'>, onLine: (line: string) => void): Promise<void> {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: opts.cwd, env: gitEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true })
    let stderr = ''
    let pending = ''
    let timedOut = false
    let callbackError: Error | undefined
    let spawnError: Error | undefined
    const timer = timeout > 0 ? setTimeout(() => { timedOut = true; child.kill('SIGTERM') }, timeout) : undefined
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      if (callbackError) return
      pending += chunk
      let nl = pending.indexOf('\n')
      let start = 0
      try {
        while (nl !== -1) {
          onLine(pending.slice(start, nl))
          start = nl + 1
          nl = pending.indexOf('\n', start)
        }
      } catch (e) {
        callbackError = e instanceof Error ? e : new Error(String(e))
        child.kill('SIGTERM')
      }
      pending = pending.slice(start)
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => { if (stderr.length < 64 * 1024) stderr += chunk })
    child.on('error', (e) => { spawnError = e })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      if (callbackError) return reject(callbackError)
      if (spawnError) return reject(failure(args, opts.cwd, undefined, undefined, stderr, false, spawnError))
      if (code === 0 || (code !== null && opts.okExitCodes?.includes(code))) {
        try {
          if (pending) onLine(pending)
        } catch (e) {
          return reject(e)
        }
        return resolve()
      }
      reject(failure(args, opts.cwd, code ?? undefined, signal, stderr, timedOut))
    })
  })
}

/** The installed git version, or a GitError of kind 'missing'. */
export async function gitVersion(cwd = process.cwd()): Promise<string> {
  const out = await git(['--version'], { cwd, timeoutMs: 10_000 })
  return out.trim().replace(/^git version\s+/, '')
}
