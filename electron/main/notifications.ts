/**
 * Native notifications for what the host decided to tell the user (the rules live in
 * host/notifier.ts). Keeps a strong reference to each shown Notification until it is
 * closed or clicked: a garbage-collected one loses its click handler (Orca's lesson).
 * A click brings the window forward on the agent concerned.
 */
import type { AppNotification } from '../../shared/ipc/contract'

export interface NotificationLike {
  on(event: 'click' | 'close', listener: () => void): unknown
  show(): void
}

export interface NativeNotifierDeps {
  isSupported(): boolean
  create(options: { title: string; body: string; silent?: boolean }): NotificationLike
  /** Click: show the window, on this agent's terminal when there is one. */
  open(agent?: string): void
  /** How many to keep referenced at most (oldest are let go). */
  limit?: number
}

export function createNativeNotifier(deps: NativeNotifierDeps): { show(n: AppNotification): boolean; live(): number } {
  const live = new Set<NotificationLike>()
  return {
    show(n) {
      if (!deps.isSupported()) return false
      const note = deps.create({ title: n.title, body: n.body })
      live.add(note)
      if (live.size > (deps.limit ?? 20)) live.delete(live.values().next().value as NotificationLike)
      note.on('click', () => {
        live.delete(note)
        deps.open(n.agent)
      })
      note.on('close', () => live.delete(note))
      note.show()
      return true
    },
    live: () => live.size,
  }
}
