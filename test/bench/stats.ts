/** Percentiles and a plain-text table for the benchmark report. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx] as number
}

export interface Summary {
  n: number
  p50: number
  p90: number
  p99: number
  mean: number
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b)
  const round = (x: number) => Math.round(x * 100) / 100
  return {
    n: s.length,
    p50: round(percentile(s, 50)),
    p90: round(percentile(s, 90)),
    p99: round(percentile(s, 99)),
    mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  }
}

export function table(rows: Array<Record<string, string | number>>): string {
  const cols = Object.keys(rows[0] ?? {})
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i] as number)).join('  ')
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n')
}

/** min, median and max of one figure over repeated runs. */
export interface Spread {
  n: number
  min: number
  median: number
  max: number
}

export function spread(values: number[]): Spread {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (!s.length) return { n: 0, min: NaN, median: NaN, max: NaN }
  const mid = Math.floor(s.length / 2)
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
  return { n: s.length, min: s[0] as number, median, max: s[s.length - 1] as number }
}

export type Row = Record<string, string | number>

const NUMERIC = /^-?\d+(\.\d+)?$/
const asNumber = (v: string | number | undefined): number | undefined =>
  typeof v === 'number' ? (Number.isFinite(v) ? v : undefined) : v !== undefined && NUMERIC.test(v.trim()) ? Number(v) : undefined

function trim(x: number): string {
  const abs = Math.abs(x)
  return String(abs >= 100 ? Math.round(x) : abs >= 10 ? Math.round(x * 10) / 10 : Math.round(x * 100) / 100)
}

/**
 * One table from the same table printed by several runs: a numeric cell becomes
 * `median [min–max]` (or the value, when every run agrees); any other cell its value when every
 * run agrees, else each distinct value with how many runs gave it (`MET×2 MISSED×1`), so a miss
 * in one run is never hidden. Rows are matched by position; the first column names them.
 */
export function aggregateTables(runs: Row[][]): Row[] {
  const first = runs[0] ?? []
  return first.map((row, i) => {
    const out: Row = {}
    for (const col of Object.keys(row)) {
      const cells = runs.map((r) => r[i]?.[col])
      const nums = cells.map(asNumber)
      if (nums.every((n) => n !== undefined)) {
        const s = spread(nums as number[])
        out[col] = s.min === s.max ? trim(s.median) : `${trim(s.median)} [${trim(s.min)}–${trim(s.max)}]`
        continue
      }
      const counts = new Map<string, number>()
      for (const c of cells) counts.set(String(c ?? '—'), (counts.get(String(c ?? '—')) ?? 0) + 1)
      out[col] = counts.size === 1 ? [...counts.keys()][0]! : [...counts].map(([v, k]) => `${v}×${k}`).join(' ')
    }
    return out
  })
}
