// Deduplication: three agents report the same risk on one deal (one primary, two merged, the
// third agent escalates it once), a fourth phrases it differently under another action (a
// near-duplicate by MinHash), another org's identical item stays its own; the post-scoring
// merge and the counters; then the general-purpose MinHash index. The same scenario runs in
// examples/python/dedup.py and examples/rust/dedup.rs.
//
//     node examples/node/dedup.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/dedup.mjs
import keel from 'keelcore'

const ORG = '00000000-0000-4000-8000-0000000000a1'
const OTHER_ORG = '00000000-0000-4000-8000-0000000000b2'
const DEAL = '00000000-0000-4000-8000-00000000de01'
const RISK = 'Acme renewal at risk: the champion stopped replying after the pricing call and procurement asked for a discount'
const report = (orgId, sourceAgent, title, context) => ({ orgId, sourceAgent, itemType: 'deal_risk', title, dealId: DEAL, context })

const db = await keel.connect(process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:')
const dedup = db.dedup() // a 4 h merge window, near-duplicates at Jaccard 0.8
const checked = await dedup.enqueue([
  report(ORG, 'deal-risk-scan', RISK, { action_type: 'call', confidence: 0.6, evidence: ['no reply in 9 days'] }),
  report(ORG, 'email-signals', RISK, { action_type: 'call', confidence: 0.5, evidence: ['pricing thread unanswered'] }),
  report(ORG, 'meeting-intel', RISK, { action_type: 'call', confidence: 0.7 }),
  report(ORG, 'crm-hygiene', `${RISK} this quarter`, { action_type: 'email', confidence: 0.4 }),
  report(OTHER_ORG, 'deal-risk-scan', RISK, { action_type: 'call' }),
])
for (const c of checked) {
  const near = c.jaccard === null ? '' : ` (jaccard ${c.jaccard.toFixed(2)})`
  console.log(`${c.verdict}${near}${c.escalated ? ' escalated' : ''}`)
}
const group = await dedup.group(checked[0].id)
console.log(
  `group: agents [${group.contributingAgents.map((a) => `'${a}'`).join(', ')}], lane ${group.queuePriority}, ` +
    `${group.mergedFrom.length} absorbed, merged confidence ${group.mergedConfidence}`,
)
const scored = await dedup.score(checked[0].id, 0.8)
console.log(`scored 0.8: group confidence ${scored.mergedConfidence}`)
const counts = await dedup.counts(ORG)
console.log(`counters: ${counts.suppressed} suppressed, ${counts.near_merged} near-merged, ${counts.escalated} escalated`)

const index = new keel.MinHashLsh({ threshold: 0.8 }) // bands and rows follow the threshold
index.insert('ticket-1', keel.minhash('Login page returns a 500 error after the password reset'))
index.insert('ticket-2', keel.minhash('Invoice PDF shows the wrong currency for EU customers'))
const found = index.query(keel.minhash('login page returns a 500 error after the password reset!'))
console.log(`[${found.map((f) => `{'key': '${f.key}', 'jaccard': ${f.jaccard.toFixed(1)}}`).join(', ')}]`)
await db.close()
