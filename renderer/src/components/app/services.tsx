/**
 * The host-facing services components use, passed by context so tests can hand in a fake
 * bridge and a fake terminal host (no xterm in happy-dom).
 */
import { createContext, useContext, type ReactNode } from 'react'
import type { Bridge } from '../../bridge'
import type { TerminalHost } from '../../terminal/types'

export interface Services {
  bridge: Bridge
  terminals: TerminalHost
}

const ServicesContext = createContext<Services | null>(null)

export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>
}

export function useServices(): Services {
  const services = useContext(ServicesContext)
  if (!services) throw new Error('useServices outside ServicesProvider')
  return services
}
