// Skills from Node: parse + validate per file (vs gray-matter, the original's parser, which
// parses without validating), compile with 20 substitutions, and a cached resolveSkills for an
// org with 500 skills. Prints one JSON object of ns per call (best of rounds). Run by
// bench/run.py (`make bench`).
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { perAwaitNs, perCallNs } from './timing.mjs'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')
const matter = require('gray-matter')

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'skills')
const files = []
for (const ns of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory())) {
  for (const skill of readdirSync(join(root, ns.name), { withFileTypes: true }).filter((e) => e.isDirectory())) {
    files.push([skill.name, readFileSync(join(root, ns.name, skill.name, 'SKILL.md'), 'utf8')])
  }
}

const body = Array.from({ length: 20 }, (_, i) =>
  [`- \${deal.name|upper} ${i}\n`, `- \${contacts|join:", "} ${i}\n`, `- \${owner|default:"unassigned"} ${i}\n`, `- \${company_name|capitalize} ${i}\n`][i % 4],
).join('')
const text = `---\nname: bench\ndescription: d\n---\n${body}`
const context = { company_name: 'acme', deal: { name: 'renewal' }, contacts: ['Dana', 'Marcus', 'Priya'] }

const lib = mkdtempSync(join(tmpdir(), 'keel-bench-skills-'))
for (let i = 0; i < 500; i++) {
  const ns = ['copilot', 'slack', 'fleet', 'shared'][i % 4]
  const name = `skill-${String(i).padStart(4, '0')}`
  mkdirSync(join(lib, ns, name), { recursive: true })
  writeFileSync(
    join(lib, ns, name, 'SKILL.md'),
    `---\nname: ${name}\ndescription: Synthetic skill ${i}.\nmetadata:\n  required_context: [deal]\n---\nFor \${company_name}: look at \${deal.name}.\n`,
  )
}
const db = await keel.connect(`sqlite://${join(lib, 'bench.db')}`)
const skills = await db.skillRegistry()
await skills.sync(lib)
const org = randomUUID()
await skills.setOrgContext(org, { company_name: 'Acme' })
const view = await skills.resolveSkills(org, 'slack')
if (view.length !== 250) throw new Error(`expected 250 skills, got ${view.length}`)

console.log(JSON.stringify({
  keel_parse_validate_per_file: perCallNs(() => { for (const [f, t] of files) keel.parseSkill(t, f) }, { rounds: 5, calls: 50 }) / files.length,
  gray_matter_per_file: perCallNs(() => { for (const [, t] of files) matter(t, { cache: false }) }, { rounds: 5, calls: 50 }) / files.length,
  keel_compile_20: perCallNs(() => keel.compileSkill(text, context), { rounds: 5, calls: 20_000 }),
  keel_cached: perCallNs(() => skills.cached(org, 'slack'), { rounds: 5 }),
  keel_resolve_awaited: await perAwaitNs(() => skills.resolveSkills(org, 'slack'), { rounds: 3, calls: 5_000 }),
}))
await db.close()
