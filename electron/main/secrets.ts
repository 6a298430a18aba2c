/**
 * safeStorage as the host's SecretCodec: the remote workspace key is encrypted with the
 * OS keychain (Keychain, DPAPI, libsecret/kwallet) before it touches disk. Where no
 * keychain backs it, `basic_text` is no protection at all, so then no codec is used and
 * the key stays in its 0600 file only (which is what headless mode does too).
 */
import type { SecretCodec } from '../host'

export interface SafeStorageLike {
  isEncryptionAvailable(): boolean
  encryptString(plain: string): Buffer
  decryptString(data: Buffer): string
  getSelectedStorageBackend?(): string
}

export function safeStorageCodec(safeStorage: SafeStorageLike, platform: NodeJS.Platform = process.platform): SecretCodec | undefined {
  if (!safeStorage.isEncryptionAvailable()) return undefined
  if (platform === 'linux' && safeStorage.getSelectedStorageBackend?.() === 'basic_text') return undefined
  return {
    name: 'electron-safeStorage',
    encrypt: (plain) => safeStorage.encryptString(plain).toString('base64'),
    decrypt: (wrapped) => safeStorage.decryptString(Buffer.from(wrapped, 'base64')),
  }
}
