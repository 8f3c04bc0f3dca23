// The timing every side-by-side script shares.

/** The best of `rounds` timings of `calls` calls, in ns per call (least disturbed by noise). */
export function perCallNs(fn, { rounds = 7, calls = 200_000 } = {}) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / calls)
  }
  return best
}

/** The best of `rounds` timings of `calls` awaited calls, in ns per call. */
export async function perAwaitNs(fn, { rounds = 5, calls = 20_000 } = {}) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) await fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / calls)
  }
  return best
}
