/** What the injector and the screen typist share: the target, a job, how it was verified, and the two ways it fails. */

export interface InjectionTarget {
  readonly alive: boolean
  write(data: string): void
  lastUserInputAt: number
  userLineOpen: boolean
}

export interface InjectionJob {
  text: string
  mode: 'wait' | 'steer'
  /** Called as the job moves: queued (waiting its turn, with why), typed, then verified. */
  onQueued?: (reason?: string) => void
  onTyped?: (keys: TypedKeys) => void
  /** Checked right before typing: false cancels the job (it rejects with InjectionCancelled). */
  stillWanted?: () => boolean
}

/** What went to the PTY for one job, for the message trace. */
export interface TypedKeys {
  preKeys: string
  text: string
  submit: string
}

/**
 * How a typed message was verified: `submitted` (the CLI's screen showed the text in its
 * input, then took it), `echo` (the text came back on the terminal), `timeout_fallback`
 * (neither, for a program that may not echo; only when `ackUnverified` allows it).
 */
export type Verification = 'submitted' | 'echo' | 'timeout_fallback'

/** The text was written but could not be proven to have reached the program: never ack it. */
export class InjectionUnverified extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'InjectionUnverified'
  }
}

export class InjectionCancelled extends Error {
  constructor(reason = 'injection cancelled') {
    super(reason)
    this.name = 'InjectionCancelled'
  }
}
