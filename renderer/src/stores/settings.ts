import { create } from 'zustand'
import type { AppInfo, SettingsView } from '../../../shared/ipc'

interface SettingsStore {
  settings: SettingsView | null
  app: AppInfo | null
  setSettings(settings: SettingsView): void
  setApp(app: AppInfo): void
}

export const useSettingsStore = create<SettingsStore>()((set) => ({
  settings: null,
  app: null,
  setSettings: (settings) => set({ settings }),
  setApp: (app) => set({ app }),
}))
