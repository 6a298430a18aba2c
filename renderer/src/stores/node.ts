import { create } from 'zustand'
import type { NodeStatus } from '../../../shared/ipc'

/** The renderer's link to its host, separate from the node's link to the engine. */
export type HostLink = 'connecting' | 'connected' | 'disconnected'

interface NodeStore {
  status: NodeStatus | null
  hostLink: HostLink
  setStatus(status: NodeStatus): void
  setHostLink(link: HostLink): void
}

export const useNodeStore = create<NodeStore>()((set) => ({
  status: null,
  hostLink: 'connecting',
  setStatus: (status) => set({ status }),
  setHostLink: (hostLink) => set({ hostLink }),
}))
