/**
 * In-page notifications for headless mode (a browser tab has no native ones we may use
 * without asking). The host already merged repeats and skipped what the user is looking
 * at; here they just show for a while, newest on top, at most a handful.
 */
import { create } from 'zustand'
import type { AppNotification } from '../../../shared/ipc'

export const TOAST_LIMIT = 4

interface ToastStore {
  toasts: AppNotification[]
  push(n: AppNotification): void
  dismiss(id: string): void
}

export const useToastStore = create<ToastStore>()((set) => ({
  toasts: [],
  push: (n) => set((s) => ({ toasts: [n, ...s.toasts.filter((t) => t.id !== n.id)].slice(0, TOAST_LIMIT) })),
  dismiss: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
}))
