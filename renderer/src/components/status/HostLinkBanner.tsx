import { useNodeStore } from '../../stores'

/** The renderer's own link to the host (headless mode can lose it; Electron cannot). */
export function HostLinkBanner() {
  const link = useNodeStore((s) => s.hostLink)
  if (link !== 'disconnected') return null
  return (
    <div className="host-link-banner" role="alert" data-testid="host-link">
      disconnected from host — reconnecting…
    </div>
  )
}
