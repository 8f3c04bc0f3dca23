// Skills from JavaScript: validation, sync with versions, overrides and channel views, on both
// backends, and the typed errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const LIBRARY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'skills')

const skillMd = (name, body, namespace = 'shared') =>
  `---\nname: ${name}\ndescription: The ${name} skill.\nmetadata:\n  namespace: ${namespace}\n---\n${body}\n`

test('validateSkills and parseSkill report every problem with a position', async () => {
  const library = await keel.validateSkills(LIBRARY)
  assert.ok(library.skills.length >= 30)
  assert.deepEqual(library.diagnostics.filter((d) => d.severity === 'error'), [])
  const parsed = keel.parseSkill('---\nname: Bad_Name\ndescription: d\nmetadata:\n  priority: urgent\n---\nx\n')
  assert.equal(parsed.skill, null)
  assert.deepEqual(parsed.diagnostics.map((d) => [d.code, d.line, d.field]), [
    ['invalid_name', 2, 'name'],
    ['invalid_value', 5, 'metadata.priority'],
  ])
})

for (const backend of BACKENDS) {
  test(`${backend}: sync, versions, overrides and channel views`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'keel-skills-'))
    cpSync(LIBRARY, root, { recursive: true })
    const db = await keel.connect(freshUrl(backend))
    const skills = await db.skillRegistry()
    const seen = []
    const first = await skills.sync(root, { onProgress: (done, total, key) => seen.push([done, total, key]) })
    assert.ok(first.items.length >= 30)
    // Progress calls are queued to the event loop; give them a few turns to arrive.
    for (let turn = 0; turn < 200 && seen.length < first.items.length; turn++) {
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.equal(seen.length, first.items.length)
    assert.deepEqual(seen.at(-1).slice(0, 2), [first.items.length, first.items.length])
    assert.deepEqual(new Set(first.items.map((i) => i.action)), new Set(['created']))
    const again = await skills.sync(root)
    assert.deepEqual(new Set(again.items.map((i) => i.action)), new Set(['unchanged']))

    const file = join(root, 'copilot', 'deal-status', 'SKILL.md')
    writeFileSync(file, readFileSync(file, 'utf8') + '\nAlso name the next step.\n')
    const dry = await skills.sync(root, { dryRun: true })
    assert.equal(dry.items.filter((i) => i.action === 'updated').length, 1)
    const bumped = await skills.sync(root)
    const changed = bumped.items.filter((i) => i.action !== 'unchanged')
    assert.deepEqual(changed.map((i) => [i.key, i.action, i.previous, i.version]), [['deal-status', 'updated', 1, 2]])
    assert.deepEqual((await skills.history('deal-status')).map((v) => [v.version, v.isCurrent]), [[1, false], [2, true]])

    const orgId = randomUUID()
    await skills.setOrgContext(orgId, { company_name: 'Acme', competitor: { name: 'Rivalsoft' } })
    const slack = await skills.resolveSkills(orgId, 'slack')
    assert.equal(slack.channel, 'slack')
    assert.ok(slack.keys().includes('slack-deal-query'))
    assert.equal(slack.get('deal-status'), null)
    assert.deepEqual(new Set(slack.skills.map((s) => s.namespace)), new Set(['slack', 'shared']))
    const competitive = slack.get('slack-competitive-query')
    assert.match(competitive.content, /Rivalsoft/)
    assert.match(competitive.content, /acknowledge the concern/)
    assert.ok(skills.cached(orgId, 'slack'))
    assert.match(slack.get('slack-deal-query').content, /\$\{deal\.name\}/)
    const deal = { name: 'Renewal', stage: 'Proposal', amount: 120000, close_date: '2026-12-15' }
    const rendered = slack.render('slack-deal-query', { deal, user_name: 'sam' })
    assert.ok(rendered.includes('Renewal') && rendered.includes('unassigned') && !rendered.includes('${'), rendered)
    assert.throws(
      () => slack.render('slack-deal-query', {}),
      (err) => err.code === 'invalid_skill' && err.field === 'body' && err.diagnostics[0].code === 'template_value',
    )
    assert.throws(() => slack.render('deal-status', {}), { code: 'invalid_input', field: 'key' })

    await skills.setEnabled(orgId, 'slack-general-query', false)
    await skills.replace(orgId, 'slack-deal-query', skillMd('slack-deal-query', 'Our own deal answer for ${company_name}.', 'slack'))
    await skills.pin(orgId, 'deal-status', 1)
    const view = await skills.resolveSkills(orgId, 'slack')
    assert.equal(view.get('slack-general-query'), null)
    const own = view.get('slack-deal-query')
    assert.deepEqual([own.source, own.version], ['org', null])
    assert.ok(own.content.endsWith('Our own deal answer for Acme.\n'))
    const reasons = view.shadowed.map((s) => `${s.key}:${s.reason}`)
    assert.ok(reasons.includes('slack-general-query:disabled_by_org'), reasons)
    assert.ok(reasons.includes('slack-deal-query:replaced_by_org'), reasons)
    const web = await skills.resolveSkills(orgId, 'web')
    assert.equal(web.get('deal-status').version, 1)

    await assert.rejects(skills.resolveSkills(orgId, 'sms'), { code: 'invalid_input', field: 'channel' })
    await assert.rejects(skills.pin(orgId, 'deal-status', 7), { code: 'invalid_input', field: 'version' })
    await assert.rejects(skills.replace(orgId, 'deal-status', 'no frontmatter'), (err) => {
      assert.equal(err.code, 'invalid_skill')
      assert.equal(err.diagnostics[0].code, 'missing_frontmatter')
      return true
    })
    await assert.rejects(skills.moveTo(orgId, 'deal-status', 'email'), { code: 'invalid_input', field: 'namespace' })
    await assert.rejects(skills.setEnabled('nope', 'deal-status', false), { code: 'invalid_input', field: 'orgId' })
    await db.close()
  })

  test(`${backend}: concurrent syncs keep one current version`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const skills = await db.skillRegistry()
    const roots = Array.from({ length: 8 }, (_, i) => {
      const root = mkdtempSync(join(tmpdir(), 'keel-race-'))
      mkdirSync(join(root, 'shared', 'raced'), { recursive: true })
      writeFileSync(join(root, 'shared', 'raced', 'SKILL.md'), skillMd('raced', `Version ${i}.`))
      return root
    })
    const reports = await Promise.all(roots.map((r) => skills.sync(r)))
    assert.deepEqual(reports.map((r) => r.items[0].version).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8])
    const history = await skills.history('raced')
    assert.equal(history.filter((v) => v.isCurrent).length, 1)
    await db.close()
  })
}

test('a cached view is one object until the view changes', async () => {
  const db = await keel.connect('sqlite::memory:')
  const skills = await db.skillRegistry()
  await skills.sync(LIBRARY)
  const orgId = randomUUID()
  const first = await skills.resolveSkills(orgId, 'slack')
  assert.equal(skills.cached(orgId, 'slack'), first, 'a cache hit hands back the same object')
  assert.equal(await skills.resolveSkills(orgId, 'slack'), first)
  await skills.setEnabled(orgId, 'slack-deal-query', false)
  const changed = await skills.resolveSkills(orgId, 'slack')
  assert.notEqual(changed, first, 'a changed view is a new object')
  assert.ok(!changed.keys().includes('slack-deal-query'))
  assert.ok(first.keys().includes('slack-deal-query'), 'the old object still shows the old view')
  assert.throws(() => skills.cached(42, 'slack'), TypeError)
  await db.close()
})

test('sync options: wrong types, unknown keys and a non-function onProgress are invalid_input', async () => {
  const db = await keel.connect()
  const registry = await db.skillRegistry()
  const cases = [
    [{ dryRun: 'yes' }, 'options.dryRun'],
    [{ force: 1 }, 'options.force'],
    [{ dryrun: true }, 'options.dryrun'],
    [{ onProgress: 42 }, undefined],
  ]
  for (const [options, field] of cases) {
    const err = await (async () => registry.sync(LIBRARY, options))().catch((e) => e)
    assert.ok(err instanceof TypeError, `${JSON.stringify(options)}: ${err}`)
    assert.equal(err.code, 'invalid_input', JSON.stringify(options))
    if (field) assert.equal(err.field, field, err.message)
  }
  let calls = 0
  const report = await registry.sync(LIBRARY, { dryRun: true, onProgress: () => calls++ })
  assert.ok(report.dryRun && report.items.length > 0 && Array.isArray(report.skipped))
  await new Promise((r) => setImmediate(r))
  assert.ok(calls > 0)
  await db.close()
})

test('a forced sync skips what does not validate and lists it', async () => {
  const root = mkdtempSync(join(tmpdir(), 'keel-force-'))
  for (const [name, body] of [['good-one', 'Fine.'], ['bad-one', 'Unclosed ${company_name.']]) {
    mkdirSync(join(root, 'shared', name), { recursive: true })
    writeFileSync(join(root, 'shared', name, 'SKILL.md'), skillMd(name, body))
  }
  const db = await keel.connect()
  const registry = await db.skillRegistry()
  await assert.rejects(registry.sync(root), (err) => err.code === 'invalid_skill' && err.diagnostics[0].code === 'template_unclosed')
  const report = await registry.sync(root, { force: true })
  assert.deepEqual(report.items.map((i) => i.key), ['good-one'])
  assert.equal(report.skipped[0].code, 'template_unclosed')
  await db.close()
})
