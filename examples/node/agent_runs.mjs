// Agent runs: an executor retried after a transient failure, a committed step that a retry
// skips, a budget that stops the run at its next step with partial results, and the
// agent_executions rows they left. The same scenario runs in examples/rust/agent_runs.rs and
// examples/python/agent_runs.py.
//
//     node examples/node/agent_runs.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/agent_runs.mjs
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// --8<-- [start:agent_runs]
const db = await keel.connect(url)
const quick = { kinds: { transient: { maxAttempts: 3, backoff: { baseMs: 0, capMs: 0 } } } }

let result = await db.runAgent({ agentName: 'deal-risk-scan', orgId: 'system', policy: quick }, async (ctx) => {
  if (ctx.attempt === 1) throw Object.assign(new Error('CRM unavailable'), { status: 503 })
  ctx.addItems(3, 42)
  return { at_risk: 3 }
})
console.log(`deal-risk-scan: ${result.status} after ${result.attempts} attempts; first failure ${result.errors[0].kind}; data ${JSON.stringify(result.data)}`)

let writes = 0
const write = async () => ({ crm_id: 40 + ++writes })
result = await db.runAgent({ agentName: 'crm-sync', orgId: 'system', policy: quick }, async (ctx) => {
  const saved = await ctx.step('write_crm', write)
  if (ctx.attempt === 1) throw Object.assign(new Error('connection reset'), { kind: 'transient' })
  return saved
})
console.log(`crm-sync: ${result.status}; the step ran ${writes} time(s); steps ${Object.keys(result.steps).join(', ')}`)

result = await db.runAgent({ agentName: 'morning-briefing', orgId: 'system', budget: 1, allowPartialResults: true }, async (ctx) => {
  const deals = await ctx.step('gather', async () => {
    ctx.addCredits(1.5) // the model calls of this step, say
    return ['deal-1', 'deal-2']
  })
  await ctx.step('write', write) // refused: the budget is spent
  return deals
})
console.log(`morning-briefing: ${result.status}, partial ${result.partial}; kept ${JSON.stringify(result.steps)}; the write ran ${writes - 1} time(s)`)

const runs = db.runs()
await runs.flush()
for (const row of (await runs.list({ orgId: 'system' })).reverse()) {
  console.log(`row ${row.agentName}: ${row.status}, ${row.attempts} attempt(s), credits ${row.creditsConsumed.toFixed(1)}`)
}
await db.close()
// --8<-- [end:agent_runs]
