import '@xterm/xterm/css/xterm.css'
import './styles.css'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { createBridge } from './bridge'
import { App } from './components/app/App'
import { ServicesProvider } from './components/app/services'
import { connectStores } from './stores'
import { afterPaintScheduler, TerminalRegistry } from './terminal'

const bridge = createBridge()
const terminals = new TerminalRegistry(bridge)
// Wired once, outside React: StrictMode's double effects must not subscribe twice.
// Inside Electron, notifications are native (main shows them); a browser tab gets toasts.
connectStores(bridge, terminals, { toasts: !window.relay, schedule: afterPaintScheduler })

const root = document.getElementById('root')
if (!root) throw new Error('#root is missing from index.html')
createRoot(root).render(
  <StrictMode>
    <ServicesProvider services={{ bridge, terminals }}>
      <App />
    </ServicesProvider>
  </StrictMode>,
)
