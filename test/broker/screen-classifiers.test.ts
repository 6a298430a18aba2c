/**
 * Every golden capture of a real CLI screen (test/fixtures/screens/<cli>/captures.json)
 * replayed into a headless terminal of the recorded size and read by that CLI's
 * classifier: the state must be the one recorded. Re-record with
 * `npx tsx test/real-clis/record-screens.ts <cli>` when a pinned version moves.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { classifierFor, ScreenModel } from '../../electron/broker/screen'
import { SCREEN_FIXTURES } from '../support/screen-capture'

const captureSchema = z.object({
  file: z.string(),
  state: z.enum(['starting', 'idle', 'typing', 'paste_pending', 'busy', 'permission', 'dialog', 'unknown']),
  cols: z.number().int().positive(),
  rows: z.number().int().positive(),
  /** What the screen shows, for a person reading the manifest. */
  note: z.string().optional(),
  /** Text the classifier must report as the input (typing / paste_pending). */
  input: z.string().optional(),
})
const manifestSchema = z.object({ cli: z.string(), version: z.string(), captures: z.array(captureSchema) })

export async function replay(raw: string, cols: number, rows: number) {
  const model = new ScreenModel({ cols, rows })
  model.write(raw)
  await model.settled()
  const view = model.view()
  model.dispose()
  return view
}

for (const cli of ['claude', 'codex', 'gemini', 'opencode']) {
  const manifestPath = join(SCREEN_FIXTURES, cli, 'captures.json')
  describe(`screen classifier: ${cli}`, () => {
    it('has golden captures of every state that matters', () => {
      expect(existsSync(manifestPath), `${manifestPath} is missing`).toBe(true)
      const m = manifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')))
      const states = new Set(m.captures.map((c) => c.state))
      for (const s of ['starting', 'idle', 'typing', 'busy', 'permission', 'dialog'] as const) expect(states, `no ${s} capture`).toContain(s)
    })
    if (!existsSync(manifestPath)) return
    const manifest = manifestSchema.parse(JSON.parse(readFileSync(manifestPath, 'utf8')))
    const classify = classifierFor(cli)
    for (const c of manifest.captures) {
      it(`${c.file}: ${c.state}${c.note ? ` (${c.note})` : ''}`, async () => {
        expect(classify).toBeDefined()
        const view = await replay(readFileSync(join(SCREEN_FIXTURES, cli, `${c.file}.raw`), 'utf8'), c.cols, c.rows)
        const reading = classify!(view)
        expect(reading.state, `screen:\n${view.lines.join('\n')}`).toBe(c.state)
        if (c.input !== undefined) expect(reading.input).toContain(c.input)
      })
    }
  })
}
