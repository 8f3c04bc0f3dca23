// Skills: sync the library, give an org its context and one override, and see what Slack
// serves it. The same scenario runs in examples/rust/skills.rs and examples/python/skills.py.
//
//     node examples/node/skills.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/skills.mjs
import { randomUUID } from 'node:crypto'
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
const orgId = randomUUID()
// --8<-- [start:skills]
const db = await keel.connect(url)
const skills = await db.skillRegistry()
const report = await skills.sync('skills') // idempotent: unchanged files change nothing
const created = report.items.filter((item) => item.action === 'created').length
console.log(`synced ${report.items.length} skills (${created} new)`)

await skills.setOrgContext(orgId, { company_name: 'Acme' })
await skills.setEnabled(orgId, 'slack-general-query', false)
const slack = await skills.resolveSkills(orgId, 'slack') // cached per (org, channel)
const shadowed = slack.shadowed.map((s) => `${s.key} (${s.reason})`).join(', ')
console.log(`slack sees ${slack.length} skills; shadowed: ${shadowed}`)
const request = {
  deal: { name: 'Renewal', stage: 'Proposal', amount: 120000, close_date: '2026-12-15' },
  user_name: 'sam',
}
const text = slack.render('slack-deal-query', request) // fills ${deal.…} for this request
console.log(`slack-deal-query v${slack.get('slack-deal-query').version}: ${text.length} chars`)
await db.close()
// --8<-- [end:skills]

// The platform's corpus as it is (atomic/ and sequences/ folders), file by file.
const corpus = await keel.importSkills('testdata/skill-corpus')
console.log(`platform corpus: ${corpus.loads} load, ${corpus.warned} warned, ${corpus.refused} refused`)
