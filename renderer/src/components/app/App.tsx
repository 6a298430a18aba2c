import { AgentList } from '../agents/AgentList'
import { SpawnDialog } from '../agents/SpawnDialog'
import { StopDialog } from '../agents/StopDialog'
import { ComposeBox } from '../compose/ComposeBox'
import { MessageFeed } from '../feed/MessageFeed'
import { SettingsDialog } from '../settings/SettingsDialog'
import { HostLinkBanner } from '../status/HostLinkBanner'
import { NodeStatusBar } from '../status/NodeStatusBar'
import { TerminalPanel } from '../terminal/TerminalPanel'
import { useUiStore } from '../../stores'
import { useServices } from './services'
import { Toasts } from './Toasts'
import { useViewingReport } from './useViewingReport'

export function App() {
  const { bridge } = useServices()
  const dialog = useUiStore((s) => s.dialog)
  const dialogAgent = useUiStore((s) => s.dialogAgent)
  useViewingReport(bridge)
  return (
    <div className="app">
      <HostLinkBanner />
      <NodeStatusBar />
      <main className="app-body">
        <aside className="pane pane-agents">
          <AgentList />
        </aside>
        <section className="pane pane-terminal">
          <TerminalPanel />
        </section>
        <aside className="pane pane-feed">
          <MessageFeed />
          <ComposeBox />
        </aside>
      </main>
      {dialog === 'spawn' && <SpawnDialog />}
      {dialog === 'settings' && <SettingsDialog />}
      {dialog === 'stop' && dialogAgent && <StopDialog key={dialogAgent} name={dialogAgent} />}
      <Toasts />
    </div>
  )
}
