/**
 * Turns a transport's raw outcome into a typed result or a BridgeError. Both transports share
 * it, so a result that does not match the contract is caught the same way in Electron and in
 * headless mode (bytes from the host are parsed where they enter, like everywhere else).
 */
import { z } from 'zod'
import { commands, type CommandName, type CommandResult } from '../../../shared/ipc'
import { BridgeError } from './errors'

const outcomeSchema = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
])

export function unwrapOutcome<C extends CommandName>(command: C, outcome: unknown): CommandResult<C> {
  const parsed = outcomeSchema.safeParse(outcome)
  if (!parsed.success) throw new BridgeError('invalid_outcome', `${command}: the host sent a malformed reply`)
  const value = parsed.data
  if (!value.ok) throw new BridgeError(value.error.code, value.error.message)
  const result = commands[command].result.safeParse(value.result)
  if (!result.success) {
    console.warn(`[bridge] ${command}: result does not match the contract`, result.error.issues[0])
    throw new BridgeError('invalid_result', `${command}: the host sent a result this UI does not understand`)
  }
  return result.data as CommandResult<C>
}
