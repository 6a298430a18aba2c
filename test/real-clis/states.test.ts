/**
 * The agent's true state on screen, with the real CLIs: a dialog and a permission prompt
 * show as such in the app (activity, notification), a message never goes into them, and
 * once the user has answered in the agent's terminal the message is typed and reaches
 * the model.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { AppNotification, FeedMessage } from '../../shared/ipc'
import { rigAvailability } from '../support/cli-rig'
import type { ModelReply, ModelRequest } from '../support/model-server'
import { waitFor } from '../support/wait'
import { RELAY_LINE, startAppWithClis, type AppWithClis } from './harness'

let app: AppWithClis | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const notes = (a: AppWithClis) => a.events.filter((e) => e.event === 'notification').map((e) => e.payload as AppNotification)
const sentTo = (a: AppWithClis, name: string, text: string) => a.feed().find((m: FeedMessage) => m.direction === 'out' && m.to === name && m.text === text)

describe('agent state from the real screens', () => {
  it.skipIf(!rigAvailability('codex').ok)("codex's folder-trust dialog: shown as a dialog, the message waits, and goes in once the user answered", async () => {
    app = await startAppWithClis({ clis: ['codex'], withDialogs: true })
    const a = app
    execFileSync('git', ['init', '-q', a.project]) // Codex asks to trust a git repository it does not know
    a.model.setResponder((req: ModelRequest): ModelReply => ({ text: `seen: ${RELAY_LINE.exec(req.userText)?.[2] ?? ''}` }))
    await a.invoke('agents.spawn', { name: 'cx', command: 'codex', cwd: a.project })
    const blocked = await waitFor(() => a.agentHistory('cx').find((x) => x.activity === 'dialog'), 'the trust dialog on screen', 30_000)
    expect(blocked.activityDetail).toMatch(/trust/i)
    expect(blocked.attention).toBe(true)
    expect(notes(a).some((n) => n.kind === 'agentBlocked' && n.agent === 'cx' && n.title === 'cx shows a dialog')).toBe(true)
    await a.invoke('messages.send', { to: 'cx', text: 'after-trust' })
    await waitFor(() => sentTo(a, 'cx', 'after-trust')?.steps?.some((s) => s.detail?.startsWith('waiting: the agent shows a dialog')), 'the message held, saying it waits for the dialog', 15_000)
    expect(a.model.turns().length).toBe(0)
    // The user answers in the agent's terminal ("1. Trust and continue").
    await a.invoke('terminal.write', { name: 'cx', data: '\r' })
    const req = await a.model.waitFor((r) => r.kind === 'turn' && r.userText.includes('after-trust'), 60_000, 'the held message at the model')
    expect(RELAY_LINE.exec(req.userText)?.[2]?.trim()).toBe('after-trust')
    await waitFor(() => sentTo(a, 'cx', 'after-trust')?.state === 'acked', 'acked after it was submitted', 10_000)
    expect(a.agentHistory('cx').at(-1)?.attention).toBeFalsy()
    await a.invoke('agents.stop', { name: 'cx' })
  })

  it.skipIf(!rigAvailability('gemini').ok)('a permission prompt for a tool that is not the relay’s: needs approval, notified, the next message waits until the user approved', async () => {
    app = await startAppWithClis({ clis: ['gemini'] })
    const a = app
    a.model.setResponder((req: ModelRequest): ModelReply => {
      if (req.toolResults.length) return { text: 'command ran' }
      const body = RELAY_LINE.exec(req.userText)?.[2] ?? ''
      if (body.includes('run-shell')) return { tool: 'run_shell_command', args: { command: 'touch relay-approval-check.txt && echo relay-approval-check', description: 'create a file' } }
      return { text: `seen: ${body}` }
    })
    await a.invoke('agents.spawn', { name: 'gm', command: 'gemini', cwd: a.project })
    await waitFor(() => a.agentHistory('gm').find((x) => x.activity === 'idle'), 'gemini idle', 60_000)
    await a.invoke('messages.send', { to: 'gm', text: 'please run-shell' })
    const asking = await waitFor(() => a.agentHistory('gm').find((x) => x.activity === 'needs_approval'), 'the approval prompt on screen', 60_000)
    expect(asking.activityDetail).toBeTruthy()
    expect(notes(a).some((n) => n.kind === 'agentBlocked' && n.agent === 'gm' && n.title === 'gm needs your approval')).toBe(true)
    await a.invoke('messages.send', { to: 'gm', text: 'second-message' })
    await waitFor(() => sentTo(a, 'gm', 'second-message')?.steps?.some((s) => s.detail?.startsWith('waiting: the agent asks for approval')), 'the next message held', 15_000)
    expect(a.model.turns().some((r) => r.userText.includes('second-message'))).toBe(false)
    // The approval ran nothing yet.
    expect(existsSync(join(a.project, 'relay-approval-check.txt'))).toBe(false)
    // The user approves once, in the agent's terminal.
    await a.invoke('terminal.write', { name: 'gm', data: '1' })
    await a.model.waitFor((r) => r.toolResults.some((t) => t.output.includes('relay-approval-check')), 60_000, 'the approved command result at the model')
    const second = await a.model.waitFor((r) => r.kind === 'turn' && (RELAY_LINE.exec(r.userText)?.[2] ?? '').includes('second-message'), 60_000, 'the held message at the model')
    expect(second.userText).not.toContain('run-shell')
    await a.invoke('agents.stop', { name: 'gm' })
  })
})
