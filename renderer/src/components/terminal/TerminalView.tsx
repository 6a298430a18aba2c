import { useEffect, useRef } from 'react'
import { useServices } from '../app/services'

/**
 * Lends a host element to the agent's xterm. Kept mounted (hidden) after its tab is left,
 * so the terminal keeps its state and xterm is opened once per agent.
 */
export function TerminalView({ name, visible }: { name: string; visible: boolean }) {
  const { terminals } = useServices()
  const hostRef = useRef<HTMLDivElement>(null)

  useEffect(() => {
    const host = hostRef.current
    if (!host) return
    return terminals.attach(name, host)
  }, [terminals, name])

  return <div className="terminal-host" data-testid={`terminal-${name}`} ref={hostRef} hidden={!visible} />
}
