/**
 * Settings (which engine, node name) and secrets (workspace key) of one app instance.
 * Both are JSON files in the data dir, parsed with zod; a corrupt file is set aside
 * (renamed, logged), never silently overwritten. Secrets are 0600: the renderer
 * never sees them. Inside Electron they could additionally be wrapped by safeStorage.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { z } from 'zod'

export const engineSettingsSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('embedded') }),
  z.object({
    mode: z.literal('remote'),
    url: z.string().url(),
    workspaceKey: z.string().startsWith('rk_', 'a workspace key starts with rk_'),
  }),
])
export type EngineSettings = z.infer<typeof engineSettingsSchema>

export const settingsSchema = z.object({
  engine: engineSettingsSchema.default({ mode: 'embedded' }),
  nodeName: z.string().optional(),
})
export type Settings = z.infer<typeof settingsSchema>

export const embeddedSecretsSchema = z.object({
  workspaceId: z.string(),
  workspaceKey: z.string(),
})
export type EmbeddedSecrets = z.infer<typeof embeddedSecretsSchema>

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

function writeJson(path: string, value: unknown, mode: number): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(value, null, 2), { mode })
  chmodSync(tmp, mode)
  renameSync(tmp, path)
}

export class SettingsStore {
  constructor(
    private readonly dataDir: string,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  private get settingsPath(): string {
    return join(this.dataDir, 'settings.json')
  }
  private get secretsPath(): string {
    return join(this.dataDir, 'secrets', 'embedded-workspace.json')
  }

  load(): Settings {
    return readJson(this.settingsPath, settingsSchema, this.log) ?? settingsSchema.parse({})
  }

  save(settings: Settings): void {
    // The remote workspace key is a secret too: settings.json is 0600 as well.
    writeJson(this.settingsPath, settingsSchema.parse(settings), 0o600)
  }

  loadEmbeddedSecrets(): EmbeddedSecrets | undefined {
    return readJson(this.secretsPath, embeddedSecretsSchema, this.log)
  }

  saveEmbeddedSecrets(secrets: EmbeddedSecrets): void {
    writeJson(this.secretsPath, secrets, 0o600)
  }
}
