import { useMemo, useState, type FormEvent, type KeyboardEvent } from 'react'
import { parseRequest } from '../../../../shared/ipc'
import { errorMessage } from '../../bridge'
import { sortAgents, useAgentsStore, useFeedStore, useNodeStore } from '../../stores'
import { useServices } from '../app/services'

export function ComposeBox() {
  const { bridge } = useServices()
  const byName = useAgentsStore((s) => s.byName)
  const agents = useMemo(() => sortAgents(byName), [byName])
  const channels = useMemo(() => [...new Set(agents.flatMap((a) => (a.channels ?? []).map((c) => `#${c}`)))].sort(), [agents])
  const userName = useNodeStore((s) => s.status?.userName)
  const [to, setTo] = useState('')
  const [text, setText] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function send() {
    if (busy) return
    const request = { to: to.trim(), text }
    const checked = parseRequest('messages.send', request)
    if (!checked.ok) {
      setError(checked.error.message)
      return
    }
    setBusy(true)
    setError(null)
    try {
      const message = await bridge.invoke('messages.send', request)
      useFeedStore.getState().upsert([message])
      // The recipient stays: a conversation usually continues with the same agent.
      setText('')
    } catch (e) {
      // The text stays so nothing typed is lost.
      setError(errorMessage(e))
    } finally {
      setBusy(false)
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter confirming an IME composition must not send.
    if (event.key !== 'Enter' || event.shiftKey || event.nativeEvent.isComposing) return
    event.preventDefault()
    void send()
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault()
    void send()
  }

  return (
    <form className="compose" onSubmit={onSubmit}>
      <div className="compose-row">
        <label className="compose-to">
          <span>to</span>
          <input
            data-testid="compose-to"
            list="compose-recipients"
            value={to}
            onChange={(e) => setTo(e.target.value)}
            placeholder="agent, or #channel"
            autoComplete="off"
            spellCheck={false}
          />
          <datalist id="compose-recipients">
            {agents.map((a) => (
              <option key={a.name} value={a.name} />
            ))}
            {channels.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </label>
        {userName && <span className="muted">as {userName}</span>}
      </div>
      <textarea
        data-testid="compose-text"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
        placeholder="Message (Enter sends, Shift+Enter for a new line)"
        rows={3}
      />
      {error && (
        <p className="inline-error" role="alert" data-testid="compose-error">
          {error}
        </p>
      )}
      <button type="submit" data-testid="compose-send" disabled={busy}>
        {busy ? 'Sending…' : 'Send'}
      </button>
    </form>
  )
}
