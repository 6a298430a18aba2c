/**
 * The Electron transport of the IPC contract. The renderer is untrusted: every call is
 * checked for who sent it and what it carries (each command has its own channel), and every
 * failure comes back as `{ ok: false, error }` — a throw would reach the renderer as an
 * opaque "Error invoking remote method" and lose the message.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron'
import { commandNames, isConnectionCommand, parseRequest, type CommandName, type CommandOutcome, type EventName } from '../../shared/ipc/contract'
import { EVENT_CHANNEL, EVENTS_CHANNEL, commandChannel } from '../preload/api'
import type { Host, HostConnection } from '../host'

// One definition of the channel names for both sides of the bridge.
export { EVENT_CHANNEL, EVENTS_CHANNEL, commandChannel } from '../preload/api'

type Contents = Pick<WebContents, 'send' | 'isDestroyed'> & { id?: number }

export interface IpcDeps {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>
  host: Pick<Host, 'invoke' | 'onEvent' | 'connect'>
  /** Every window whose renderer should receive host events. */
  windows: () => Array<{ webContents: Contents; isDestroyed(): boolean }>
  /** True when a frame URL is our own renderer (see renderer-location.ts). */
  isAppUrl: (url: string) => boolean
  log?: (message: string, detail?: unknown) => void
}

type Outcome = CommandOutcome<CommandName>

const fail = (code: string, message: string): Outcome => ({ ok: false, error: { code, message } })

/** Registers the invoke handler and event forwarding; returns a function undoing both. */
export function registerIpc(deps: IpcDeps): () => void {
  const log = deps.log ?? (() => undefined)

  /**
   * One host connection per renderer (webContents): its terminal subscriptions, output
   * acks and batched events (see electron/host/connection.ts). One IPC message per batch
   * instead of one per event: a structured clone and a hop per PTY chunk was the main
   * process's cost under load.
   */
  const connections = new Map<unknown, { contents: Contents; conn: HostConnection }>()
  const keyOf = (contents: Contents): unknown => contents.id ?? contents
  function connectionFor(contents: Contents): HostConnection {
    const key = keyOf(contents)
    const known = connections.get(key)
    if (known && known.contents === contents) return known.conn
    known?.conn.close()
    const conn = deps.host.connect((batch) => {
      if (contents.isDestroyed()) {
        drop(key)
        return
      }
      try {
        const only = batch.length === 1 ? batch[0] : undefined
        if (only) contents.send(EVENT_CHANNEL, only.event, only.payload)
        else contents.send(EVENTS_CHANNEL, batch)
      } catch (error) {
        // A window mid-teardown can throw; the others must still get their events.
        log(`ipc: dropped ${batch.length} event(s) for a closing window`, error)
      }
    })
    connections.set(key, { contents, conn })
    return conn
  }
  function drop(key: unknown): void {
    connections.get(key)?.conn.close()
    connections.delete(key)
  }

  // One handler per command, on its own channel: there is no generic "invoke anything".
  for (const command of commandNames) {
    const channel = commandChannel(command)
    // Safe to call again (macOS re-activate, tests): a second handle() would throw.
    deps.ipcMain.removeHandler(channel)
    deps.ipcMain.handle(channel, (event: IpcMainInvokeEvent, request: unknown) => handle(command, event, request))
  }

  async function handle(command: CommandName, event: IpcMainInvokeEvent, request: unknown): Promise<Outcome> {
    const denied = checkSender(event, deps.isAppUrl)
    if (denied) {
      log('ipc: refused a call from a foreign frame', { command, url: denied })
      return fail('forbidden', 'This window is not allowed to talk to Relay.')
    }
    const parsed = parseRequest(command, request)
    if (!parsed.ok) return parsed
    const sender = (event as { sender?: Contents }).sender
    const conn = sender && !sender.isDestroyed() ? connectionFor(sender) : undefined
    try {
      if (isConnectionCommand(command)) {
        if (!conn) return fail('unsupported', `${command} needs a live window`)
        return await conn.invoke(command, parsed.value)
      }
      return await deps.host.invoke(command, parsed.value)
    } catch (error) {
      // The host returns errors as values; a throw is a bug, so keep the detail in the log.
      log(`ipc: ${command} threw`, error)
      return fail('internal', `${command} failed: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      // Events emitted before this result reach the window first (a snapshot must not
      // overtake its own bytes).
      conn?.flush()
    }
  }

  const unsubscribe = deps.host.onEvent((name: EventName, payload: unknown) => {
    for (const [key, { contents }] of connections) if (contents.isDestroyed()) drop(key)
    for (const win of deps.windows()) {
      if (win.isDestroyed() || win.webContents.isDestroyed()) continue
      connectionFor(win.webContents).push(name, payload)
    }
  })

  return () => {
    unsubscribe()
    for (const key of [...connections.keys()]) drop(key)
    for (const command of commandNames) deps.ipcMain.removeHandler(commandChannel(command))
  }
}

/** Returns the offending URL when the sender is not our renderer's top frame, else null. */
function checkSender(event: IpcMainInvokeEvent, isAppUrl: (url: string) => boolean): string | null {
  try {
    const frame = event.senderFrame
    if (!frame) return '(frame gone)'
    // Subframes never need the host; only the top-level renderer document does.
    if (frame.parent) return frame.url
    return isAppUrl(frame.url) ? null : frame.url
  } catch {
    // Reading a frame that navigated or was disposed mid-call throws; treat it as foreign.
    return '(frame disposed)'
  }
}
