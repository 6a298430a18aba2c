import { AgentList } from '../agents/AgentList'
import { SpawnForm } from '../agents/SpawnForm'
import { ComposeBox } from '../compose/ComposeBox'
import { MessageFeed } from '../feed/MessageFeed'
import { HostLinkBanner } from '../status/HostLinkBanner'
import { NodeStatusBar } from '../status/NodeStatusBar'
import { TerminalPanel } from '../terminal/TerminalPanel'

export function App() {
  return (
    <div className="app">
      <HostLinkBanner />
      <NodeStatusBar />
      <main className="app-body">
        <aside className="pane pane-agents">
          <AgentList />
          <SpawnForm />
        </aside>
        <section className="pane pane-terminal">
          <TerminalPanel />
        </section>
        <aside className="pane pane-feed">
          <MessageFeed />
          <ComposeBox />
        </aside>
      </main>
    </div>
  )
}
