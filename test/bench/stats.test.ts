import { describe, expect, it } from 'vitest'
import { aggregateTables, spread } from './stats'

describe('bench figures over several runs', () => {
  it('spread gives min, median and max, the median of an even count being the middle pair’s mean', () => {
    expect(spread([5, 1, 3])).toEqual({ n: 3, min: 1, median: 3, max: 5 })
    expect(spread([4, 1, 2, 10])).toEqual({ n: 4, min: 1, median: 3, max: 10 })
    expect(spread([NaN, 2]).n).toBe(1)
  })

  it('a numeric cell reads median [min–max]; text that differs between runs shows every value and its count', () => {
    const runs = [
      [{ measure: 'msgs/s', value: 300, goal: 'MISSED' }, { measure: 'p50 ms', value: '4.10', goal: 'MET' }],
      [{ measure: 'msgs/s', value: 420, goal: 'MET' }, { measure: 'p50 ms', value: '5.90', goal: 'MET' }],
      [{ measure: 'msgs/s', value: 275, goal: 'MISSED' }, { measure: 'p50 ms', value: '4.16', goal: 'MET' }],
    ]
    expect(aggregateTables(runs)).toEqual([
      { measure: 'msgs/s', value: '300 [275–420]', goal: 'MISSED×2 MET×1' },
      { measure: 'p50 ms', value: '4.16 [4.1–5.9]', goal: 'MET' },
    ])
  })

  it('a figure every run agrees on is printed once, and a run that lacks it is not taken as agreement', () => {
    expect(aggregateTables([[{ m: 'x', v: 200 }], [{ m: 'x', v: 200 }]])).toEqual([{ m: 'x', v: '200' }])
    expect(aggregateTables([[{ m: 'x', v: '200/200' }], [{ m: 'x', v: '199/200' }]])).toEqual([{ m: 'x', v: '200/200×1 199/200×1' }])
    expect(aggregateTables([[{ m: 'x', v: 1 }], []])).toEqual([{ m: 'x×1 —×1', v: '1×1 —×1' }])
  })
})
