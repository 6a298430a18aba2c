/**
 * A failed command as the UI sees it: the contract's `{code, message}` carried on an Error,
 * so `await bridge.invoke(...)` can be used with try/catch and the message shown as is.
 */
export class BridgeError extends Error {
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = 'BridgeError'
    this.code = code
  }
}

/** The text to show a person for anything thrown by an invoke. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
