/**
 * An agent's changes against the commit its worktree started from: committed, staged,
 * unstaged and untracked, as files → hunks → lines with line numbers. git computes the diff;
 * this module only reads git's unified output, in bounded memory (a cap per file and in all).
 *
 * Untracked files are made visible to `git diff` with `git add --intent-to-add` in a
 * temporary copy of the worktree's index (GIT_INDEX_FILE), so the user's index is never
 * written and rename detection still pairs a moved file with its untracked new name.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gitFailure, WorktreeError } from './errors'
import { git, runGit, streamGitLines } from './git'

export { watchWorktree, type WorktreeWatcher, type WatchOptions } from './watch'

export interface DiffLine {
  kind: 'add' | 'del' | 'context'
  text: string
  /** line number in the base version; null for an added line */
  oldLine: number | null
  /** line number in the working tree; null for a deleted line */
  newLine: number | null
  /** the file ends here without a newline */
  noNewline?: true
  /** text was cut at maxLineLength */
  cut?: true
}

export interface DiffHunk {
  /** the whole `@@ ... @@ section` line */
  header: string
  oldStart: number
  oldLines: number
  newStart: number
  newLines: number
  lines: DiffLine[]
}

export type FileStatus = 'added' | 'modified' | 'deleted' | 'renamed' | 'copied'

export interface FileDiff {
  /** path in the working tree (for a deleted file: the path it had) */
  path: string
  /** the base path of a rename or copy */
  oldPath?: string
  status: FileStatus
  /** not known to git in the worktree (shown through intent-to-add) */
  untracked: boolean
  binary: boolean
  oldMode?: string
  newMode?: string
  /** percent, for renames and copies */
  similarity?: number
  /** counted over the whole file, also past the cap */
  additions: number
  deletions: number
  hunks: DiffHunk[]
  /** some lines were left out: the file passed maxLinesPerFile or the diff passed maxTotalLines */
  truncated: boolean
}

export interface AgentDiff {
  baseCommit: string
  /** commits on the worktree's HEAD since the base; null if that could not be counted */
  commits: number | null
  files: FileDiff[]
  additions: number
  deletions: number
  /** some file is truncated */
  truncated: boolean
}

export interface DiffOptions {
  /** lines of context around changes; default 3 */
  context?: number
  /** lines kept per file; default 5,000 */
  maxLinesPerFile?: number
  /** lines kept over all files; default 50,000 */
  maxTotalLines?: number
  /** characters kept per line; default 2,000 */
  maxLineLength?: number
  /** default 120 s */
  timeoutMs?: number
}

/** Decodes a path git printed in C quotes (`"a\tb"`, octal bytes). */
export function unquoteGitPath(s: string): string {
  if (!s.startsWith('"') || !s.endsWith('"') || s.length < 2) return s
  const bytes: number[] = []
  const simple: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 }
  const body = s.slice(1, -1)
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'))
      continue
    }
    const next = body[++i]
    if (next !== undefined && next in simple) bytes.push(simple[next])
    else if (next !== undefined && /[0-7]/.test(next)) {
      bytes.push(parseInt(body.slice(i, i + 3), 8))
      i += 2
    } else bytes.push(92, ...(next === undefined ? [] : Buffer.from(next, 'utf8')))
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Reads one possibly-quoted path token from the front of `s`; returns it and the rest. */
function takePath(s: string): [string, string] {
  if (!s.startsWith('"')) {
    const sp = s.indexOf(' ')
    return sp === -1 ? [s, ''] : [s.slice(0, sp), s.slice(sp + 1)]
  }
  let i = 1
  while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1
  return [unquoteGitPath(s.slice(0, i + 1)), s.slice(i + 2)]
}

/** The two paths of `diff --git a/X b/Y`. Without a rename git prints the same name twice, which settles names with spaces. */
function headerPaths(rest: string): { a: string; b: string } {
  if (rest.startsWith('"')) {
    const [a, tail] = takePath(rest)
    const [b] = takePath(tail)
    return { a: a.replace(/^a\//, ''), b: b.replace(/^b\//, '') }
  }
  const quotedB = rest.lastIndexOf(' "b/')
  if (quotedB !== -1 && rest.endsWith('"')) {
    return { a: rest.slice(0, quotedB).replace(/^a\//, ''), b: unquoteGitPath(rest.slice(quotedB + 1)).replace(/^b\//, '') }
  }
  const n = (rest.length - 5) / 2
  if (Number.isInteger(n) && rest.startsWith('a/') && rest.slice(2 + n) === ` b/${rest.slice(2, 2 + n)}`) {
    const p = rest.slice(2, 2 + n)
    return { a: p, b: p }
  }
  const at = rest.indexOf(' b/')
  return at === -1 ? { a: rest, b: rest } : { a: rest.replace(/^a\//, '').slice(0, at - 2), b: rest.slice(at + 3) }
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/

/**
 * Parses `git diff` (unified, a/ b/ prefixes) fed one line at a time. Keeps at most
 * maxLinesPerFile lines per file and maxTotalLines in all; counts everything.
 */
export class UnifiedDiffParser {
  readonly files: FileDiff[] = []
  private file: FileDiff | null = null
  private hunk: DiffHunk | null = null
  private oldLeft = 0
  private newLeft = 0
  private oldNo = 0
  private newNo = 0
  private kept = 0
  private keptTotal = 0
  private lastStored: DiffLine | null = null

  constructor(private readonly limits: { maxLinesPerFile: number; maxTotalLines: number; maxLineLength: number }) {}

  line(line: string): void {
    if (this.oldLeft > 0 || this.newLeft > 0) return this.body(line)
    if (line.startsWith('diff --git ')) return this.start(line.slice('diff --git '.length))
    const f = this.file
    if (!f) return
    if (line.startsWith('\\')) {
      if (this.lastStored) this.lastStored.noNewline = true
      return
    }
    const m = HUNK.exec(line)
    if (m) return this.startHunk(line, m)
    if (this.hunk) return // trailing text after a hunk that is not a header: nothing git prints
    if (line.startsWith('new file mode ')) {
      f.status = 'added'
      f.newMode = line.slice(14)
    } else if (line.startsWith('deleted file mode ')) {
      f.status = 'deleted'
      f.oldMode = line.slice(18)
    } else if (line.startsWith('old mode ')) f.oldMode = line.slice(9)
    else if (line.startsWith('new mode ')) f.newMode = line.slice(9)
    else if (line.startsWith('rename from ')) {
      f.status = 'renamed'
      f.oldPath = unquoteGitPath(line.slice(12))
    } else if (line.startsWith('rename to ')) f.path = unquoteGitPath(line.slice(10))
    else if (line.startsWith('copy from ')) {
      f.status = 'copied'
      f.oldPath = unquoteGitPath(line.slice(10))
    } else if (line.startsWith('copy to ')) f.path = unquoteGitPath(line.slice(8))
    else if (line.startsWith('similarity index ')) f.similarity = parseInt(line.slice(17), 10)
    else if (line.startsWith('Binary files ') || line === 'GIT binary patch') f.binary = true
  }

  private start(rest: string): void {
    const { a, b } = headerPaths(rest)
    this.file = { path: b, status: 'modified', untracked: false, binary: false, additions: 0, deletions: 0, hunks: [], truncated: false }
    if (a !== b) this.file.oldPath = a
    this.files.push(this.file)
    this.hunk = null
    this.kept = 0
    this.lastStored = null
  }

  private startHunk(header: string, m: RegExpExecArray): void {
    this.oldNo = Number(m[1])
    this.newNo = Number(m[3])
    this.oldLeft = m[2] === undefined ? 1 : Number(m[2])
    this.newLeft = m[4] === undefined ? 1 : Number(m[4])
    this.lastStored = null
    const hunk: DiffHunk = { header, oldStart: this.oldNo, oldLines: this.oldLeft, newStart: this.newNo, newLines: this.newLeft, lines: [] }
    this.hunk = hunk
    if (this.room()) this.file!.hunks.push(hunk)
  }

  private room(): boolean {
    const ok = this.kept < this.limits.maxLinesPerFile && this.keptTotal < this.limits.maxTotalLines
    if (!ok) this.file!.truncated = true
    return ok
  }

  private body(raw: string): void {
    const f = this.file!
    const sign = raw[0]
    // An empty line is an empty context line (diff.suppressBlankEmpty).
    const kind = sign === '+' ? 'add' : sign === '-' ? 'del' : 'context'
    const line: DiffLine = {
      kind,
      text: raw.slice(1),
      oldLine: kind === 'add' ? null : this.oldNo++,
      newLine: kind === 'del' ? null : this.newNo++,
    }
    if (kind !== 'add') this.oldLeft--
    if (kind !== 'del') this.newLeft--
    if (kind === 'add') f.additions++
    if (kind === 'del') f.deletions++
    if (!this.room()) {
      this.lastStored = null
      return
    }
    if (line.text.length > this.limits.maxLineLength) {
      line.text = line.text.slice(0, this.limits.maxLineLength)
      line.cut = true
    }
    this.hunk!.lines.push(line)
    this.kept++
    this.keptTotal++
    this.lastStored = line
  }
}

/** Commits on the worktree's HEAD since `base`; null if git cannot count them. */
export async function commitsSince(worktreePath: string, base: string): Promise<number | null> {
  if (base.startsWith('-')) return null
  return git(['rev-list', '--count', `${base}..HEAD`], { cwd: worktreePath })
    .then((s) => Number(s.trim()))
    .catch(() => null)
}

/**
 * The changes in a worktree against `baseCommit`: everything committed since, staged,
 * unstaged, and untracked files (ignored files excepted). Reads the repository only.
 */
export async function agentDiff(worktreePath: string, baseCommit: string, opts: DiffOptions = {}): Promise<AgentDiff> {
  const cwd = worktreePath
  const timeoutMs = opts.timeoutMs ?? 120_000
  let base: string
  try {
    const r = baseCommit.startsWith('-') ? null : await runGit(['rev-parse', '-q', '--verify', `${baseCommit}^{commit}`], { cwd, okExitCodes: [1] })
    if (!r || r.exitCode !== 0) throw new WorktreeError('bad_base', `the base commit ${baseCommit} is not in the repository of ${worktreePath}`)
    base = r.stdout.trim()
  } catch (e) {
    throw gitFailure(e, `could not read ${worktreePath}`)
  }

  let temp: string | null = null
  try {
    const untracked = (await git(['ls-files', '--others', '--exclude-standard', '-z'], { cwd, timeoutMs }))
      .split('\0')
      // "dir/" is a nested repository; intent-to-add would record it as a submodule.
      .filter((p) => p && !p.endsWith('/'))
    const env: Record<string, string> = {}
    if (untracked.length > 0) {
      temp = await mkdtemp(join(tmpdir(), 'relay-diff-'))
      const index = join(temp, 'index')
      const realIndex = resolve(cwd, (await git(['rev-parse', '--git-path', 'index'], { cwd })).trim())
      try {
        await copyFile(realIndex, index)
      } catch {
        // No index yet: start the temporary one from HEAD so tracked files are not read as deleted.
        await git(['read-tree', 'HEAD'], { cwd, env: { GIT_INDEX_FILE: index } })
      }
      const list = join(temp, 'untracked')
      await writeFile(list, untracked.join('\0'))
      await git(['add', '--intent-to-add', `--pathspec-from-file=${list}`, '--pathspec-file-nul'], {
        cwd,
        timeoutMs,
        env: { GIT_INDEX_FILE: index, GIT_LITERAL_PATHSPECS: '1' },
      })
      env.GIT_INDEX_FILE = index
    }

    const parser = new UnifiedDiffParser({
      maxLinesPerFile: opts.maxLinesPerFile ?? 5_000,
      maxTotalLines: opts.maxTotalLines ?? 50_000,
      maxLineLength: opts.maxLineLength ?? 2_000,
    })
    const args = [
      '-c', 'core.quotePath=false',
      '-c', 'diff.suppressBlankEmpty=false',
      'diff', '--no-color', '--no-ext-diff', '--no-textconv', '--no-relative', '--submodule=short',
      '-M', '--src-prefix=a/', '--dst-prefix=b/', `-U${opts.context ?? 3}`,
      base, '--',
    ]
    await streamGitLines(args, { cwd, timeoutMs, env }, (l) => parser.line(l))

    // git orders renames by their old name; a file list reads better ordered by the name it has now.
    parser.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    const untrackedSet = new Set(untracked)
    let additions = 0
    let deletions = 0
    for (const f of parser.files) {
      f.untracked = f.status !== 'deleted' && untrackedSet.has(f.path)
      additions += f.additions
      deletions += f.deletions
    }
    const commits = await commitsSince(cwd, base)
    return { baseCommit: base, commits, files: parser.files, additions, deletions, truncated: parser.files.some((f) => f.truncated) }
  } catch (e) {
    throw gitFailure(e, `could not diff ${worktreePath}`)
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true }).catch(() => undefined)
  }
}
