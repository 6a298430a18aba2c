import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const DIR = join(__dirname, '../../build/tray')
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

describe('tray icons (build/make-icons.mjs output)', () => {
  for (const name of ['tray-idle', 'tray-working', 'tray-attention', 'tray-disconnected', 'trayTemplate']) {
    it(`${name} exists at 16px and @2x 32px`, () => {
      for (const [suffix, size] of [['', 16], ['@2x', 32]] as const) {
        const png = readFileSync(join(DIR, `${name}${suffix}.png`))
        expect(png.subarray(0, 8).equals(SIGNATURE)).toBe(true)
        expect(png.toString('ascii', 12, 16)).toBe('IHDR')
        expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size])
      }
    })
  }
})
