// Model router: resolve a model for a feature, report the call, charge its credits.
// The same scenario runs in examples/rust/model_router.rs and examples/python/model_router.py.
//
//     node examples/node/model_router.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/model_router.mjs
import { randomUUID } from 'node:crypto'
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
const orgId = randomUUID()
// --8<-- [start:model_router]
const db = await keel.connect(url)
const router = await db.modelRouter() // seeds the default matrix
await router.setOrgTier(orgId, 'copilot', 'low')
// The original call shape, with the router where the Supabase client was.
const pick = await keel.resolveModel(router, { feature: 'copilot', userId: 'system', orgId })
console.log(`copilot for this org: ${pick.provider}/${pick.modelId} (${pick.tier} tier)`)
// When its conversations must be compacted: the window from the matrix, the dated id matched.
const limit = router.compactionThreshold(pick.modelId)
console.log(`compact ${limit.canonicalId} conversations above ${limit.threshold} tokens`)

// A 400 is the caller's fault: the breaker does not count it.
console.log('a 400 changes the breaker:', await router.recordFailure(pick.modelId, { status: 400 }))

await router.grantCredits(orgId, 10)
const balance = await keel.deductCredits(router, null, orgId, pick, { inputTokens: 2000, outputTokens: 500 }, 'copilot', 'call-1')
console.log(`balance after the call: ${balance.toFixed(4)}`)
await db.close()
// --8<-- [end:model_router]
