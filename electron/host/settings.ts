/**
 * Settings (engine, node name, notifications, start at login, close to tray) and secrets
 * (workspace keys) of one app instance. Both are JSON files in the data dir, parsed with
 * zod; a corrupt file is set aside (renamed, logged), never silently overwritten.
 *
 * Secrets never leave the host: `toView` is what the UI gets ("key set", not the key).
 * The remote workspace key lives in secrets/remote-workspace.json (0600); inside Electron
 * it is additionally wrapped by safeStorage through a SecretCodec. The embedded engine's
 * key is not wrapped: it only opens the engine database that sits next to it.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { notificationPrefsSchema, type SettingsView } from '../../shared/ipc'
import { writeFileAtomic } from '../broker/files'

export const engineSettingsSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('embedded') }),
  z.object({
    mode: z.literal('remote'),
    url: z.string().url(),
    /** Legacy/hand-written place for the key; the UI stores it in secrets/ instead. */
    workspaceKey: z.string().startsWith('rk_', 'a workspace key starts with rk_').optional(),
  }),
])
export type StoredEngineSettings = z.infer<typeof engineSettingsSchema>
/** An engine the host can connect to: a remote one always has its key here. */
export type EngineSettings = { mode: 'embedded' } | { mode: 'remote'; url: string; workspaceKey: string }

export const DEFAULT_NOTIFICATIONS = { agentExited: true, agentIdle: true, agentBlocked: true, messageToUser: true, deliveryFailed: true, idleSeconds: 30 }

export const settingsSchema = z.object({
  engine: engineSettingsSchema.default({ mode: 'embedded' }),
  nodeName: z.string().optional(),
  notifications: notificationPrefsSchema.partial().default({}).transform((n) => ({ ...DEFAULT_NOTIFICATIONS, ...n })),
  startAtLogin: z.boolean().default(false),
  closeToTray: z.boolean().default(true),
  /**
   * Agents Relay spawns ask for nothing (claude --dangerously-skip-permissions and the
   * like), as upstream agent-relay does. Off: only the relay's own tools are pre-approved.
   */
  skipPermissionPrompts: z.boolean().default(false),
})
export type Settings = z.output<typeof settingsSchema>

export const embeddedSecretsSchema = z.object({
  workspaceId: z.string(),
  workspaceKey: z.string(),
})
export type EmbeddedSecrets = z.infer<typeof embeddedSecretsSchema>

const remoteSecretSchema = z.union([
  z.object({ workspaceKey: z.string() }),
  z.object({ wrapped: z.object({ codec: z.string(), data: z.string() }) }),
])

/** Wraps a secret at rest (Electron: safeStorage). Thin by design; mocked in tests. */
export interface SecretCodec {
  readonly name: string
  encrypt(plain: string): string
  decrypt(wrapped: string): string
}

function readJson<T>(path: string, schema: z.ZodType<T>, log: (msg: string) => void): T | undefined {
  if (!existsSync(path)) return undefined
  try {
    const parsed = schema.safeParse(JSON.parse(readFileSync(path, 'utf8')))
    if (parsed.success) return parsed.data
    throw new Error(parsed.error.issues[0]?.message ?? 'invalid')
  } catch (err) {
    const aside = `${path}.corrupt-${Date.now()}`
    renameSync(path, aside)
    log(`${path} could not be read (${(err as Error).message}); moved it to ${aside}`)
    return undefined
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode: number, pretty = true): void {
  writeFileAtomic(path, pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value), mode)
}

export class SettingsStore {
  constructor(
    private readonly dataDir: string,
    private readonly log: (msg: string) => void = () => undefined,
    /** A function when the codec becomes usable only later (Electron: after `ready`). */
    private readonly codecSource?: SecretCodec | (() => SecretCodec | undefined),
  ) {}

  private get codec(): SecretCodec | undefined {
    return typeof this.codecSource === 'function' ? this.codecSource() : this.codecSource
  }

  private get settingsPath(): string {
    return join(this.dataDir, 'settings.json')
  }
  private get secretsPath(): string {
    return join(this.dataDir, 'secrets', 'embedded-workspace.json')
  }
  private get remoteSecretPath(): string {
    return join(this.dataDir, 'secrets', 'remote-workspace.json')
  }

  load(): Settings {
    return readJson(this.settingsPath, settingsSchema, this.log) ?? settingsSchema.parse({})
  }

  save(settings: Settings): void {
    // A hand-written remote key may sit in settings.json: it is 0600 as well.
    writeJsonAtomic(this.settingsPath, settingsSchema.parse(settings), 0o600)
  }

  /** The engine to connect to, with the remote key resolved; undefined key = not usable. */
  resolveEngine(settings: Settings): EngineSettings | { mode: 'remote'; url: string; workspaceKey?: undefined } {
    const e = settings.engine
    if (e.mode === 'embedded') return e
    return { mode: 'remote', url: e.url, workspaceKey: e.workspaceKey ?? this.loadRemoteKey() }
  }

  loadRemoteKey(): string | undefined {
    const stored = readJson(this.remoteSecretPath, remoteSecretSchema, this.log)
    if (!stored) return undefined
    if ('workspaceKey' in stored) return stored.workspaceKey
    if (!this.codec || this.codec.name !== stored.wrapped.codec) {
      this.log(`the remote workspace key is wrapped by ${stored.wrapped.codec}, which is not available here; set the key again`)
      return undefined
    }
    try {
      return this.codec.decrypt(stored.wrapped.data)
    } catch (err) {
      this.log(`could not unwrap the remote workspace key (${(err as Error).message}); set the key again`)
      return undefined
    }
  }

  saveRemoteKey(key: string): void {
    const value = this.codec ? { wrapped: { codec: this.codec.name, data: this.codec.encrypt(key) } } : { workspaceKey: key }
    writeJsonAtomic(this.remoteSecretPath, value, 0o600)
  }

  clearRemoteKey(): void {
    rmSync(this.remoteSecretPath, { force: true })
  }

  loadEmbeddedSecrets(): EmbeddedSecrets | undefined {
    return readJson(this.secretsPath, embeddedSecretsSchema, this.log)
  }

  saveEmbeddedSecrets(secrets: EmbeddedSecrets): void {
    writeJsonAtomic(this.secretsPath, secrets, 0o600)
  }
}

/** What the UI may see of the settings: no key, only whether one is set. */
export function toSettingsView(
  settings: Settings,
  opts: { remoteKeySet: boolean; restartRequired: boolean; engineOverridden: boolean },
): SettingsView {
  const e = settings.engine
  return {
    engine:
      e.mode === 'embedded'
        ? { mode: 'embedded', workspaceKeySet: false }
        : { mode: 'remote', url: e.url, workspaceKeySet: Boolean(e.workspaceKey) || opts.remoteKeySet },
    nodeName: settings.nodeName,
    notifications: settings.notifications,
    startAtLogin: settings.startAtLogin,
    closeToTray: settings.closeToTray,
    skipPermissionPrompts: settings.skipPermissionPrompts,
    restartRequired: opts.restartRequired,
    engineOverridden: opts.engineOverridden,
  }
}
