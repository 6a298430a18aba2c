import { useEffect } from 'react'
import { useUiStore } from '../../stores'
import type { Bridge } from '../../bridge'

/**
 * Tells the host what the user is looking at (the selected agent, and whether this window
 * has focus), so it doesn't notify about that. Sent on change only.
 */
export function useViewingReport(bridge: Bridge): void {
  const selected = useUiStore((s) => s.selected)
  useEffect(() => {
    let last = ''
    const report = () => {
      const focused = document.visibilityState === 'visible' && document.hasFocus()
      const key = `${selected ?? ''}|${focused}`
      if (key === last) return
      last = key
      bridge.invoke('ui.viewing', { agent: selected, focused }).catch(() => {
        last = ''
      })
    }
    report()
    window.addEventListener('focus', report)
    window.addEventListener('blur', report)
    document.addEventListener('visibilitychange', report)
    const offLink = bridge.onConnectionChange?.((up) => {
      if (up) {
        last = ''
        report()
      }
    })
    return () => {
      window.removeEventListener('focus', report)
      window.removeEventListener('blur', report)
      document.removeEventListener('visibilitychange', report)
      offLink?.()
    }
  }, [bridge, selected])
}
