/**
 * Spawn an agent: pick a detected CLI (or type any command), a name, a folder, args and
 * channels, and for a folder in a git repository optionally the agent's own worktree.
 * Errors land on the field they are about, in the host's own words: name taken, command
 * not found, folder missing, branch exists, `git worktree add` failed.
 */
import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactElement } from 'react'
import { parseRequest, type CommandRequest, type FolderInfo } from '../../../../shared/ipc'
import { BridgeError, errorMessage } from '../../bridge'
import { flushEvents, useAgentsStore, useSettingsStore, useUiStore } from '../../stores'
import { useServices } from '../app/services'
import { Modal } from '../dialogs/Modal'
import { parseArgs } from './parse-args'

type Field = 'name' | 'command' | 'cwd' | 'args' | 'channels' | 'branch' | 'worktree'

/** Quiet time after typing a folder (or name) before asking the host about it. */
export const INSPECT_DELAY_MS = 300

const WORKTREE_CODES = new Set(['not_a_repo', 'no_commits', 'worktree_add_failed', 'worktree_dirty', 'git_missing', 'git_failed'])

/** Which field an error is about, from the host's error code or the contract's field path. */
export function fieldOf(code: string, message: string): Field | null {
  if (code === 'name_taken') return 'name'
  if (code === 'command_not_found' || code === 'spawn_failed') return 'command'
  if (code === 'cwd_missing') return 'cwd'
  if (code === 'branch_exists' || code === 'invalid_branch') return 'branch'
  if (WORKTREE_CODES.has(code)) return 'worktree'
  if (/^worktree\.branch:/.test(message)) return 'branch'
  if (/^worktree(\.\w+)?:/.test(message)) return 'worktree'
  const m = /^(name|command|cwd|args|channels)(\.\d+)?:/.exec(message)
  return m ? (m[1] as Field) : null
}

/** What the dialog knows about the folder typed, for the "own worktree" option. */
interface FolderState {
  /** The folder this answer is about (the field may have changed since). */
  path: string
  info: FolderInfo | null
  /** worktree.inspect itself failed. */
  error: string | null
}

/** A worktree needs a repository with at least one commit to branch from. */
export function worktreeOffered(info: FolderInfo | null): boolean {
  return Boolean(info?.isRepo && info.head)
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

export function splitChannels(input: string): string[] {
  return input
    .split(/[\s,]+/)
    .map((c) => c.replace(/^#/, '').trim())
    .filter(Boolean)
}

/** A free name for a new agent of this command: `claude`, then `claude-2`, … */
export function suggestName(command: string, taken: (name: string) => boolean): string {
  const base = (command.split(/[\\/]/).pop() ?? '').replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'agent'
  if (!taken(base)) return base
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`
}

export function SpawnDialog() {
  const { bridge } = useServices()
  const close = () => useUiStore.getState().openDialog(null)
  const app = useSettingsStore((s) => s.app)
  const byName = useAgentsStore((s) => s.byName)
  const [clis, setClis] = useState<Array<{ name: string; path: string }> | null>(null)
  const [command, setCommand] = useState('')
  const [name, setName] = useState('')
  const [nameTouched, setNameTouched] = useState(false)
  const [cwd, setCwd] = useState('')
  const [args, setArgs] = useState('')
  const [channels, setChannels] = useState('')
  const [restart, setRestart] = useState(true)
  const [wantWorktree, setWantWorktree] = useState(false)
  const [branch, setBranch] = useState('')
  const [branchTouched, setBranchTouched] = useState(false)
  const [folder, setFolder] = useState<FolderState | null>(null)
  const [inspecting, setInspecting] = useState(false)
  const inspectSeq = useRef(0)
  const [error, setError] = useState<{ field: Field | null; message: string } | null>(null)
  const [busy, setBusy] = useState(false)

  useEffect(() => {
    let live = true
    bridge.invoke('agents.detect', {}).then(
      (r) => live && setClis(r.clis),
      () => live && setClis([]),
    )
    return () => {
      live = false
    }
  }, [bridge])

  // Ask the host about the folder once typing pauses; only the newest answer counts.
  const folderPath = cwd.trim()
  const agentName = name.trim()
  useEffect(() => {
    const seq = ++inspectSeq.current
    if (!folderPath) {
      setFolder(null)
      setInspecting(false)
      return
    }
    setInspecting(true)
    const timer = setTimeout(() => {
      bridge.invoke('worktree.inspect', { path: folderPath, ...(agentName ? { agentName } : {}) }).then(
        (info) => {
          if (seq !== inspectSeq.current) return
          setFolder({ path: folderPath, info, error: null })
          setInspecting(false)
        },
        (e) => {
          if (seq !== inspectSeq.current) return
          setFolder({ path: folderPath, info: null, error: errorMessage(e) })
          setInspecting(false)
        },
      )
    }, INSPECT_DELAY_MS)
    return () => clearTimeout(timer)
  }, [bridge, folderPath, agentName])

  // The branch follows the host's suggestion (named after the agent) until the user edits it.
  const suggestedBranch = folder?.info?.isRepo ? folder.info.suggestedBranch : undefined
  useEffect(() => {
    if (!branchTouched && suggestedBranch) setBranch(suggestedBranch)
  }, [branchTouched, suggestedBranch])

  const folderCurrent = folder !== null && folder.path === folderPath ? folder : null
  const offered = worktreeOffered(folderCurrent?.info ?? null)
  const useWorktree = wantWorktree && offered
  // Checked, but the answer about a newly typed folder is not in yet: wait rather than
  // silently spawn without a worktree.
  const worktreePending = wantWorktree && folderPath !== '' && folderCurrent === null

  const taken = useMemo(() => (n: string) => Boolean(byName[n] && byName[n].status !== 'exited' && byName[n].status !== 'failed') || Boolean(byName[n]?.dormant), [byName])

  function choose(cmd: string) {
    setCommand(cmd)
    if (!nameTouched) setName(cmd.trim() ? suggestName(cmd.trim(), taken) : '')
    if (error?.field === 'command') setError(null)
  }

  async function browse() {
    try {
      const { path } = await bridge.invoke('dialog.pickDirectory', { defaultPath: cwd || undefined })
      if (path) setCwd(path)
    } catch (e) {
      setError({ field: 'cwd', message: errorMessage(e) })
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    if (busy || worktreePending) return
    const request: CommandRequest<'agents.spawn'> = {
      name: name.trim(),
      command: command.trim(),
      args: parseArgs(args),
      channels: splitChannels(channels),
      restart,
    }
    if (cwd.trim()) request.cwd = cwd.trim()
    if (useWorktree) request.worktree = branch.trim() ? { branch: branch.trim() } : {}
    // The contract's own check, so the message matches what the host would answer.
    const checked = parseRequest('agents.spawn', request)
    if (!checked.ok) {
      setError({ field: fieldOf(checked.error.code, checked.error.message), message: checked.error.message })
      return
    }
    setBusy(true)
    setError(null)
    try {
      const agent = await bridge.invoke('agents.spawn', request)
      // The events sent while it spawned (without its worktree) must not land after this.
      flushEvents()
      useAgentsStore.getState().upsert(agent)
      useUiStore.getState().select(agent.name)
      close()
    } catch (e) {
      const code = e instanceof BridgeError ? e.code : 'error'
      setError({ field: fieldOf(code, errorMessage(e)), message: errorMessage(e) })
    } finally {
      setBusy(false)
    }
  }

  const fieldError = (f: Field) =>
    error?.field === f ? (
      <span className="field-error" role="alert" data-testid={`spawn-error-${f}`}>
        {error.message}
      </span>
    ) : null
  const invalid = (f: Field) => (error?.field === f ? 'invalid' : undefined)
  // An error about a part of the form that is not on screen (any more) shows at the bottom.
  const shownFields: Field[] = ['name', 'command', 'cwd', 'args', 'channels']
  if (folderPath) shownFields.push('worktree')
  if (useWorktree) shownFields.push('branch')
  const generalError = error && (error.field === null || !shownFields.includes(error.field)) ? error : null

  return (
    <Modal title="Spawn an agent" onClose={close} testId="spawn-dialog">
      <form className="form" onSubmit={submit} noValidate>
        <div className="form-row">
          <span className="form-label">Program</span>
          <div className="cli-choices" data-testid="spawn-clis">
            {clis === null && <span className="muted">looking for agent CLIs…</span>}
            {clis?.map((c) => (
              <button
                type="button"
                key={c.name}
                className={`chip${command.trim() === c.name ? ' chosen' : ''}`}
                data-testid={`spawn-cli-${c.name}`}
                title={c.path}
                onClick={() => choose(c.name)}
              >
                {c.name}
              </button>
            ))}
            {clis?.length === 0 && <span className="muted">No agent CLI (claude, codex, gemini, aider, …) found on PATH. Type any command below.</span>}
          </div>
        </div>
        <label className="form-row">
          <span className="form-label">Command</span>
          <input data-testid="spawn-command" className={invalid('command')} value={command} onChange={(e) => choose(e.target.value)} placeholder="claude, codex, bash, or a path" autoComplete="off" spellCheck={false} />
          {fieldError('command')}
        </label>
        <label className="form-row">
          <span className="form-label">Name</span>
          <input
            data-testid="spawn-name"
            className={invalid('name')}
            value={name}
            onChange={(e) => {
              setName(e.target.value)
              setNameTouched(true)
              if (error?.field === 'name') setError(null)
            }}
            placeholder="reviewer"
            autoComplete="off"
            spellCheck={false}
          />
          {fieldError('name')}
        </label>
        <div className="form-row">
          <span className="form-label">Folder</span>
          <div className="input-with-button">
            <input data-testid="spawn-cwd" className={invalid('cwd')} value={cwd} onChange={(e) => setCwd(e.target.value)} placeholder={app?.homeDir ?? 'home folder'} autoComplete="off" spellCheck={false} />
            {app?.canPickDirectory && (
              <button type="button" onClick={browse} data-testid="spawn-browse">
                Browse…
              </button>
            )}
          </div>
          {fieldError('cwd')}
        </div>
        <label className="form-row">
          <span className="form-label">Arguments</span>
          <input data-testid="spawn-args" className={invalid('args')} value={args} onChange={(e) => setArgs(e.target.value)} placeholder='optional, e.g. --model opus "fix the tests"' autoComplete="off" spellCheck={false} />
          {fieldError('args')}
        </label>
        <label className="form-row">
          <span className="form-label">Channels</span>
          <input data-testid="spawn-channels" className={invalid('channels')} value={channels} onChange={(e) => setChannels(e.target.value)} placeholder="optional, e.g. general, reviews" autoComplete="off" spellCheck={false} />
          {fieldError('channels')}
        </label>
        {folderPath && (
          <WorktreeSection
            folder={folderCurrent}
            checking={inspecting || folderCurrent === null}
            want={wantWorktree}
            setWant={(v) => {
              setWantWorktree(v)
              if (error?.field === 'worktree' || error?.field === 'branch') setError(null)
            }}
            branch={branch}
            setBranch={(v) => {
              setBranch(v)
              setBranchTouched(true)
              if (error?.field === 'branch') setError(null)
            }}
            branchPlaceholder={agentName ? `relay/${agentName}` : 'relay/<agent name>'}
            branchInvalid={invalid('branch')}
            branchError={fieldError('branch')}
            worktreeError={fieldError('worktree')}
          />
        )}
        <label className="form-check">
          <input type="checkbox" data-testid="spawn-restart" checked={restart} onChange={(e) => setRestart(e.target.checked)} />
          Start it again when Relay starts (resuming its session where the CLI can)
        </label>
        {generalError && (
          <p className="inline-error" role="alert" data-testid="spawn-error">
            {generalError.message}
          </p>
        )}
        <footer className="form-actions">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="primary" data-testid="spawn-submit" disabled={busy || worktreePending} title={worktreePending ? 'checking the folder…' : undefined}>
            {busy ? 'Spawning…' : 'Spawn'}
          </button>
        </footer>
      </form>
    </Modal>
  )
}

interface WorktreeSectionProps {
  folder: FolderState | null
  checking: boolean
  want: boolean
  setWant(value: boolean): void
  branch: string
  setBranch(value: string): void
  branchPlaceholder: string
  branchInvalid: string | undefined
  branchError: ReactElement | null
  worktreeError: ReactElement | null
}

/** "Own git worktree": offered for a repository with commits; otherwise says why not. */
function WorktreeSection(props: WorktreeSectionProps) {
  const { folder, checking, want } = props
  const info = folder?.info ?? null
  let body: ReactElement
  if (!folder) {
    body = <span className="muted">checking the folder…</span>
  } else if (folder.error) {
    body = (
      <span className="muted" data-testid="spawn-worktree-reason">
        Could not check the folder for a git repository: {folder.error}
      </span>
    )
  } else if (!info || !info.isRepo) {
    body = (
      <span className="muted" data-testid="spawn-worktree-reason">
        No own worktree: {info ? info.reason : 'not a git repository'}
      </span>
    )
  } else if (!info.head) {
    body = (
      <span className="muted" data-testid="spawn-worktree-reason">
        No own worktree: the repository at {info.root} has no commits yet, and a worktree starts from one.
      </span>
    )
  } else {
    body = (
      <>
        <label className="form-check">
          <input type="checkbox" data-testid="spawn-worktree-checkbox" checked={want} onChange={(e) => props.setWant(e.target.checked)} />
          Own git worktree: the agent works on a new branch, apart from this folder and other agents
        </label>
        <span className="muted worktree-repo">
          {info.root} · {info.branch ? `on ${info.branch}` : 'detached HEAD'} at {info.head.slice(0, 8)}
        </span>
        {want && (
          <label className="form-row">
            <span className="form-label">Branch</span>
            <input
              data-testid="spawn-worktree-branch"
              className={props.branchInvalid}
              value={props.branch}
              onChange={(e) => props.setBranch(e.target.value)}
              placeholder={props.branchPlaceholder}
              autoComplete="off"
              spellCheck={false}
            />
            {props.branchError}
          </label>
        )}
        {info.dirty && (
          <span className="worktree-note" data-testid="spawn-worktree-dirty">
            This folder has {plural(info.changes, 'uncommitted change')}: {info.changes === 1 ? 'it is' : 'they are'} not in the agent's worktree, which starts from
            the last commit.
          </span>
        )}
      </>
    )
  }
  return (
    <fieldset className="worktree-section" data-testid="spawn-worktree" aria-busy={checking}>
      <legend>Git worktree</legend>
      {body}
      {props.worktreeError}
    </fieldset>
  )
}
