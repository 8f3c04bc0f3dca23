// One of the processes of `models.test.mjs`'s four-process deduction test: 16 deductions of
// 1 credit, all started at the given time; prints its counts as JSON.
import keel from '../index.js'

const [url, orgId, index, startAt] = process.argv.slice(2)
const db = await keel.connect(url)
const router = await db.modelRouter()
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())))
const outcomes = await Promise.allSettled(
  Array.from({ length: 16 }, (_, j) => router.deductCredits({ orgId, amount: 1, idempotencyKey: `process-${index}-${j}` })),
)
const failed = outcomes.filter((o) => o.status === 'rejected' && o.reason.code !== 'budget_exceeded')
if (failed.length) throw failed[0].reason
console.log(JSON.stringify({
  ok: outcomes.filter((o) => o.status === 'fulfilled').length,
  exceeded: outcomes.filter((o) => o.status === 'rejected').length,
}))
await db.close()
