/**
 * The embedded engine in its own thread. Under load (many agents printing, hundreds of
 * messages a second) the engine's HTTP handling and SQLite writes blocked the host's event
 * loop, which also carries PTY output and the user's keystrokes. The engine is reached only
 * over loopback HTTP/WS anyway, so a worker thread costs nothing in the protocol.
 *
 * Parent → worker: workerData {dataDir}; {type:'close', reason}.
 * Worker → parent: {type:'ready', url} | {type:'failed', message} | {type:'log', level, msg} | {type:'closed'}.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { startEngine } from '../engine'

const port = parentPort
if (port) {
  const { dataDir } = workerData as { dataDir: string }
  startEngine({ port: 0, dataDir, log: (level, msg) => port.postMessage({ type: 'log', level, msg }) }).then(
    (engine) => {
      port.postMessage({ type: 'ready', url: engine.url })
      port.on('message', (m: { type?: string; reason?: string }) => {
        if (m?.type !== 'close') return
        void engine.close(m.reason).finally(() => {
          port.postMessage({ type: 'closed' })
          port.close()
        })
      })
    },
    (err: Error) => port.postMessage({ type: 'failed', message: err.message }),
  )
}
