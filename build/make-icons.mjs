#!/usr/bin/env node
/**
 * Writes the tray icons in build/tray/ as real PNG files, with nothing but node:zlib, so
 * the images are reproducible and need no design tool. Run: `node build/make-icons.mjs`.
 *
 * Each state has its own colour *and* shape, so it still reads for colour-blind users
 * and in a monochrome panel: idle = filled dot, working = dot with a hole, attention =
 * dot with a bar, disconnected = hollow ring. Edges are anti-aliased by supersampling.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'

const OUT = join(dirname(fileURLToPath(import.meta.url)), 'tray')

/** Shapes in a unit square (0..1); each returns true where the pixel is painted. */
const disc = (r) => (x, y) => Math.hypot(x - 0.5, y - 0.5) <= r
const ring = (outer, inner) => (x, y) => {
  const d = Math.hypot(x - 0.5, y - 0.5)
  return d <= outer && d >= inner
}
const minus = (a, b) => (x, y) => a(x, y) && !b(x, y)
const bar = (x, y) => Math.abs(x - 0.5) <= 0.07 && y >= 0.22 && y <= 0.78

const ICONS = {
  'tray-idle': { rgb: [46, 160, 67], shape: disc(0.42) },
  'tray-working': { rgb: [56, 139, 253], shape: minus(disc(0.42), disc(0.16)) },
  'tray-attention': { rgb: [219, 109, 40], shape: minus(disc(0.42), bar) },
  'tray-disconnected': { rgb: [139, 148, 158], shape: ring(0.42, 0.27) },
  // macOS template: black + alpha only; the system recolours it for light/dark bars.
  trayTemplate: { rgb: [0, 0, 0], shape: (x, y) => ring(0.42, 0.3)(x, y) || disc(0.14)(x, y) },
}

const SAMPLES = 4

function render({ rgb, shape }, size) {
  const rows = []
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4) // leading 0 = PNG filter "None"
    for (let px = 0; px < size; px++) {
      let hits = 0
      for (let sy = 0; sy < SAMPLES; sy++)
        for (let sx = 0; sx < SAMPLES; sx++)
          if (shape((px + (sx + 0.5) / SAMPLES) / size, (py + (sy + 0.5) / SAMPLES) / size)) hits++
      row.set([...rgb, Math.round((255 * hits) / (SAMPLES * SAMPLES))], 1 + px * 4)
    }
    rows.push(row)
  }
  return png(size, size, Buffer.concat(rows))
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function crc32(buf) {
  let c = 0xffffffff
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

function png(width, height, raw) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 6, 0, 0, 0], 8) // 8-bit RGBA, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

mkdirSync(OUT, { recursive: true })
for (const [name, icon] of Object.entries(ICONS)) {
  // The @2x name is what Electron's nativeImage looks for on HiDPI screens.
  writeFileSync(join(OUT, `${name}.png`), render(icon, 16))
  writeFileSync(join(OUT, `${name}@2x.png`), render(icon, 32))
}
console.log(`wrote ${Object.keys(ICONS).length * 2} icons to ${OUT}`)
