import { useEffect, useRef, useState, type KeyboardEvent } from 'react'
import { useServices } from '../app/services'

/**
 * Find in the shown terminal: Enter for older matches, Shift+Enter for newer, Escape clears.
 * Ctrl+Shift+F inside a terminal focuses it.
 */
export function TerminalSearch({ name }: { name: string }) {
  const { terminals } = useServices()
  const input = useRef<HTMLInputElement>(null)
  const [query, setQuery] = useState('')
  const [result, setResult] = useState<{ index: number; total: number } | null>(null)

  useEffect(() => {
    const focus = () => input.current?.focus()
    window.addEventListener('relay:find', focus)
    return () => window.removeEventListener('relay:find', focus)
  }, [])
  useEffect(() => {
    setQuery('')
    setResult(null)
  }, [name])

  if (!terminals.find) return null
  const find = (backwards: boolean, q = query) => {
    if (!q) {
      terminals.clearFind?.(name)
      setResult(null)
      return
    }
    setResult(terminals.find?.(name, q, backwards) ?? null)
  }
  function onKeyDown(e: KeyboardEvent<HTMLInputElement>) {
    if (e.key === 'Enter') {
      e.preventDefault()
      find(!e.shiftKey)
    } else if (e.key === 'Escape') {
      setQuery('')
      find(true, '')
    }
  }

  return (
    <span className="terminal-search">
      <input
        ref={input}
        data-testid="terminal-search"
        value={query}
        placeholder="Find (Ctrl+Shift+F)"
        onChange={(e) => {
          setQuery(e.target.value)
          find(true, e.target.value)
        }}
        onKeyDown={onKeyDown}
        spellCheck={false}
      />
      <span className="muted search-count" data-testid="terminal-search-count">
        {result ? (result.total ? `${result.index}/${result.total}` : 'no match') : ''}
      </span>
      <button type="button" className="small" title="older match (Enter)" onClick={() => find(true)} disabled={!query}>
        ↑
      </button>
      <button type="button" className="small" title="newer match (Shift+Enter)" onClick={() => find(false)} disabled={!query}>
        ↓
      </button>
    </span>
  )
}
