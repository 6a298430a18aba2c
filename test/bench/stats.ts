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
