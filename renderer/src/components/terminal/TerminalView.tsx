import { useEffect, useRef } from 'react'
import { useServices } from '../app/services'

/**
 * Lends a host element to the agent's xterm. Kept mounted (hidden) after its tab is left,
 * so xterm is opened once per agent; only the visible one receives output.
 */
export function TerminalView({ name, visible }: { name: string; visible: boolean }) {
  const { terminals } = useServices()
  const hostRef = useRef<HTMLDivElement>(null)

  // Before attach (effects run in order), so the first attach already knows whether to subscribe.
  useEffect(() => {
    terminals.setVisible?.(name, visible)
  }, [terminals, name, visible])

  useEffect(() => {
    const host = hostRef.current
    if (!host) return
    return terminals.attach(name, host)
  }, [terminals, name])

  useEffect(() => () => terminals.setVisible?.(name, false), [terminals, name])

  return <div className="terminal-host" data-testid={`terminal-${name}`} ref={hostRef} hidden={!visible} />
}
