// The shared vectors in testdata/, run against the Node API.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { randomUUID } from 'node:crypto'

import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

import { BACKENDS, LOADED, TESTDATA, freshUrl, loadVectors } from './helpers.mjs'

for (const c of loadVectors('database_urls.json')) {
  test(`database_urls: ${c.name}`, () => {
    if (c.expected_error_code) {
      assert.throws(() => keel.parseDatabaseUrl(c.input.url), (err) => err.code === c.expected_error_code)
    } else {
      const parsed = keel.parseDatabaseUrl(c.input.url)
      assert.deepEqual(
        { backend: parsed.backend, masked: parsed.masked, in_memory: parsed.inMemory },
        c.expected,
      )
    }
  })
}

for (const c of loadVectors('mask_url.json')) {
  test(`mask_url: ${c.name}`, () => {
    assert.equal(keel.maskUrl(c.input.url), c.expected)
  })
}

for (const c of loadVectors('error_codes.json')) {
  test(`error_codes: ${c.name}`, () => {
    assert.deepEqual(keel.errorCodes(), c.expected)
  })
}

for (const c of loadVectors('connect_errors.json')) {
  test(`connect_errors: ${c.name}`, async () => {
    await assert.rejects(keel.connect(c.input.url), (err) => {
      assert.ok(err instanceof Error)
      assert.equal(err.code, c.expected_error_code)
      assert.ok(!err.message.includes(c.input.secret ?? '\0'), err.message)
      return true
    })
  })
}

for (const c of loadVectors('redact_secrets.json')) {
  test(`redact_secrets: ${c.name}`, () => {
    assert.equal(keel.redactSecrets(c.input.text), c.expected)
  })
}

for (const c of loadVectors('traceparent.json')) {
  test(`traceparent: ${c.name}`, () => {
    const got = keel.parseTraceparent(c.input.header)
    const e = c.expected
    assert.deepEqual(got, e && { traceId: e.trace_id, parentSpanId: e.parent_span_id, sampled: e.sampled })
  })
}

/** A router on an empty in-memory database: the default matrix, every circuit closed. */
async function defaultRouter() {
  const db = await keel.connect('sqlite::memory:')
  return { db, router: await db.modelRouter() }
}

test('model_resolution vectors', async () => {
  const { db, router } = await defaultRouter()
  for (const c of loadVectors('model_resolution.json')) {
    if (c.expected_error_code) {
      assert.throws(() => router.resolve(c.input.feature, c.input.tier), { code: c.expected_error_code, field: c.expected_field }, c.name)
      continue
    }
    const r = router.resolve(c.input.feature, c.input.tier)
    assert.deepEqual(
      { provider: r.provider, model_id: r.modelId, credit_cost: r.creditCost, max_tokens: r.maxTokens, context_window: r.contextWindow, was_fallback: r.wasFallback, tier: r.tier },
      c.expected,
      c.name,
    )
  }
  await db.close()
})

for (const c of loadVectors('agent_budgets.json')) {
  test(`agent_budgets: ${c.name}`, () => {
    const b = keel.checkAgentBudget(c.input.agent, c.input.used)
    assert.deepEqual({ exceeded: b.exceeded, limit: b.limit }, c.expected)
  })
}

for (const c of loadVectors('failure_statuses.json')) {
  test(`failure_statuses: ${c.name}`, async () => {
    const { db, router } = await defaultRouter()
    assert.deepEqual({ first_failure: await router.recordFailure('claude-sonnet-4-6', c.input.status) }, c.expected)
    await db.close()
  })
}

for (const c of loadVectors('skill_parse.json')) {
  test(`skill_parse: ${c.name}`, () => {
    const parsed = keel.parseSkill(c.input.text, c.input.folder)
    assert.deepEqual(
      {
        name: parsed.skill ? parsed.skill.name : null,
        diagnostics: parsed.diagnostics.map((d) => [d.code, d.severity, d.line, d.column]),
      },
      c.expected,
    )
  })
}

for (const c of loadVectors('skill_compile.json')) {
  test(`skill_compile: ${c.name}`, () => {
    const run = () => keel.compileSkill(c.input.text, c.input.context, c.input.documents)
    if (c.expected_error_code) {
      assert.throws(
        run,
        (err) =>
          err.code === c.expected_error_code &&
          (err.field ?? null) === c.expected_error_field &&
          (c.expected_diagnostic_code === undefined || err.diagnostics[0].code === c.expected_diagnostic_code),
      )
    } else {
      const compiled = run()
      assert.deepEqual({ content: compiled.content, context_hash: compiled.contextHash }, c.expected)
    }
  })
}

{
  const corpus = Object.fromEntries(loadVectors('skill_corpus.json').map((c) => [c.name, c]))
  const root = (c) => join(TESTDATA, c.input.root)

  test('skill_corpus: import_report', async () => {
    const c = corpus.import_report
    const report = await keel.importSkills(root(c))
    const files = report.files.map((f) => [relative(root(c), f.file), f.status, f.key, f.namespace, f.codes])
    assert.deepEqual({ loads: report.loads, warned: report.warned, refused: report.refused, files }, c.expected)
  })

  test('skill_corpus: loaded_skills', async () => {
    const c = corpus.loaded_skills
    const library = await keel.validateSkills(root(c))
    const got = library.skills.map(({ namespace, doc: d }) => ({
      key: d.name,
      namespace,
      display_name: d.displayName,
      skill_type: d.meta.skillType,
      is_active: d.meta.isActive,
      priority: d.priority,
      sequence: d.sequence,
      triggers: d.triggers.map((t) => [t.pattern, t.intent, t.confidence, t.examples.length]),
      inputs: d.meta.inputs.map((p) => [p.name, p.type, p.required]),
      required_context: d.requiredContext,
      agent_affinity: d.meta.agentAffinity,
      timeout_ms: d.meta.timeoutMs,
      deprecated_by: d.meta.deprecatedBy,
      command_centre: d.meta.commandCentre ? d.meta.commandCentre.label : null,
    }))
    assert.deepEqual(got, c.expected)
  })

  test('skill_corpus: portable_findings', async () => {
    const c = corpus.portable_findings
    const library = await keel.validateSkills(root(c), { portable: true })
    const codes = {}
    for (const d of library.diagnostics.filter((d) => d.severity === 'error')) codes[d.code] = (codes[d.code] ?? 0) + 1
    assert.deepEqual(codes, c.expected)
  })

  for (const backend of BACKENDS) {
    test(`skill_corpus: views_per_channel on ${backend}`, async () => {
      const c = corpus.views_per_channel
      const db = await keel.connect(freshUrl(backend))
      const skills = await db.skillRegistry()
      await skills.sync(root(c), { force: true })
      const org = '00000000-0000-0000-0000-000000000007'
      const got = {}
      for (const channel of ['web', 'slack', 'fleet', 'command_centre']) {
        const view = await skills.resolveSkills(org, channel)
        got[channel] = { skills: view.keys(), shadowed: view.shadowed.map((s) => [s.key, s.reason]) }
      }
      assert.deepEqual(got, c.expected)
      // The resolved view carries the corpus's fields, camelCase.
      const deal = (await skills.resolveSkills(org, 'slack')).get('slack-deal-query')
      assert.equal(deal.doc.displayName, 'Slack Deal Query')
      assert.deepEqual(deal.doc.meta.agentAffinity, ['slack'])
      assert.equal(deal.doc.meta.contextProfile, 'sales')
      assert.deepEqual(deal.doc.meta.inputs[0], { name: 'raw_query', type: 'string', required: true, description: 'The message as the user wrote it' })
      assert.equal(deal.doc.triggers[0].intent, 'deal_query')
      await db.close()
    })
  }
}

for (const c of loadVectors('skill_channels.json')) {
  test(`skill_channels: ${c.name}`, () => {
    if (c.expected_error_code) {
      assert.throws(() => keel.channelNamespaces(c.input.channel), (err) => err.code === c.expected_error_code && err.field === c.expected_error_field)
    } else {
      assert.deepEqual(keel.channelNamespaces(c.input.channel), c.expected)
    }
  })
}

/** `snake_case` in the vectors, as JavaScript spells it. */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
const camelKeys = (value) =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), camelKeys(v)]))
    : value

for (const c of loadVectors('failure_reports.json')) {
  test(`failure_reports: ${c.name}`, async () => {
    const { db, router } = await defaultRouter()
    const call = router.recordFailure('claude-sonnet-4-6', camelKeys(c.input.report) ?? undefined)
    if (c.expected_error_code) {
      await assert.rejects(call, { code: c.expected_error_code, field: c.expected_error_field })
    } else {
      assert.deepEqual({ first_failure: await call }, c.expected)
    }
    await db.close()
  })
}

async function openWith(target, db, options) {
  if (target === 'router') return db.modelRouter(options)
  if (target === 'registry') return db.skillRegistry(options)
  if (target === 'cleanup') return db.cleanupLogs(options)
  const other = await keel.connect('sqlite::memory:', options)
  await other.close()
  return other
}

for (const c of loadVectors('options.json')) {
  test(`options: ${c.name}`, async () => {
    const db = await keel.connect('sqlite::memory:')
    const run = openWith(c.input.target, db, camelKeys(c.input.options))
    if (c.expected_error_code) {
      const field = c.expected_error_field ? `options.${camel(c.expected_error_field)}` : undefined
      await assert.rejects(run, (err) => err.code === c.expected_error_code && (field === undefined || err.field === field))
    } else {
      await run
    }
    await db.close()
  })
}

test('compaction_plans vectors', () => {
  for (const c of loadVectors('compaction_plans.json')) {
    const run = () => keel.planCompaction(camelKeys(c.input.messages), camelKeys(c.input.options))
    if (c.expected_error_code) {
      const field = c.expected_error_field.startsWith('messages') ? camel(c.expected_error_field) : `options.${camel(c.expected_error_field)}`
      assert.throws(run, { code: c.expected_error_code, field }, c.name)
    } else {
      assert.deepEqual(run(), camelKeys(c.expected), c.name)
    }
  }
})

test('token_counts vectors', () => {
  for (const c of loadVectors('token_counts.json')) {
    const run = () => keel.countTokens(c.input.text, c.input.encoding)
    if (c.expected_error_code) {
      assert.throws(run, { code: c.expected_error_code, field: c.expected_error_field }, c.name)
    } else {
      assert.equal(run(), c.expected.tokens, c.name)
    }
  }
})

test('message_tokens vectors', () => {
  for (const c of loadVectors('message_tokens.json')) {
    const run = () => keel.countMessageTokens(c.input.model, camelKeys(c.input.messages))
    if (c.expected_error_code) {
      assert.throws(run, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
    } else {
      assert.deepEqual(run(), camelKeys(c.expected), c.name)
    }
  }
})

test('context_blocks vectors', () => {
  for (const c of loadVectors('context_blocks.json')) {
    const rows = c.input.rows.map(camelKeys)
    const run = () => keel.formatPriorContext(c.input.message, rows, { now: c.input.now })
    if (c.expected_error_code) {
      const field = c.expected_error_field === 'now' ? 'options.now' : camel(c.expected_error_field)
      assert.throws(run, { code: c.expected_error_code, field }, c.name)
    } else {
      const prior = run()
      const got = { terms: prior.terms, chosen: prior.entries.map((e) => [e.entry.entityId, e.score]), block: prior.block }
      assert.deepEqual(got, c.expected, c.name)
    }
  }
})

test('compaction_thresholds vectors', async () => {
  const { db, router } = await defaultRouter()
  for (const c of loadVectors('compaction_thresholds.json')) {
    const run = () => router.compactionThreshold(c.input.model, camelKeys(c.input.options))
    if (c.expected_error_code) {
      assert.throws(run, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
    } else {
      assert.deepEqual(run(), camelKeys(c.expected), c.name)
    }
  }
  assert.throws(() => router.compactionThreshold(42), TypeError)
  assert.throws(() => router.compactionThreshold('claude-sonnet-4-6', { outputTokens: -1 }), { code: 'invalid_input', field: 'options.outputTokens' })
  await db.close()
})

test('llm_requests vectors', async () => {
  const { db, router } = await defaultRouter()
  const llm = router.llm()
  for (const c of loadVectors('llm_requests.json')) {
    const field = camel(c.expected_error_field)
    await assert.rejects(llm.complete(camelKeys(c.input.request)), (err) => {
      assert.deepEqual([err.code, err.field], [c.expected_error_code, field], c.name)
      return true
    })
  }
  await db.close()
})

// The task vectors' bad requests (the rest run against the loopback provider in
// llm_tasks.test.mjs): refused before any request, naming the field.
test('llm_tasks vectors: bad requests', async () => {
  const { db, router } = await defaultRouter()
  const llm = router.llm()
  for (const c of loadVectors('llm_tasks.json').invalid) {
    const request = c.task === 'embed' ? c.request : { ...c.request, provider: 'openai', model: 'task-model' }
    await assert.rejects(llm[c.task](request), (err) => {
      assert.deepEqual([err.code, err.field], ['invalid_input', c.field], JSON.stringify(c))
      return true
    })
  }
  await db.close()
})

for (const c of loadVectors('charges.json')) {
  test(`charges: ${c.name}`, async () => {
    const { db, router } = await defaultRouter()
    const orgId = randomUUID()
    await router.grantCredits(orgId, 100)
    const { feature, tier, no_resolution: noResolution, ...rest } = c.input
    const options = { orgId, ...camelKeys(rest) }
    if (!noResolution) options.resolution = router.resolve(feature, tier)
    if (c.expected_error_code) {
      await assert.rejects(router.deductCredits(options), { code: c.expected_error_code, field: camel(c.expected_error_field) })
    } else {
      const moved = await router.deductCredits(options)
      assert.ok(Math.abs(100 - moved.balanceAfter - c.expected.amount) < 1e-9, `${moved.balanceAfter}`)
    }
    await db.close()
  })
}

// One rule for an org with no balance row, in checkBudget and deductCredits alike.
for (const c of loadVectors('credit_flows.json')) {
  test(`credit flows: ${c.name}`, async () => {
    const { db, router } = await defaultRouter()
    const orgId = randomUUID()
    for (const step of c.steps) {
      const call =
        step.op === 'check_budget'
          ? router.checkBudget(orgId)
          : step.op === 'grant'
            ? router.grantCredits(orgId, step.amount)
            : router.deductCredits({ orgId, amount: step.amount })
      if (step.expected_error_code) {
        await assert.rejects(call, { code: step.expected_error_code })
        continue
      }
      const got = await call
      for (const [key, want] of Object.entries(step.expected)) {
        const value = key === 'can_proceed' ? got.can_proceed : got[camel(key)]
        assert.ok(typeof want === 'number' ? Math.abs(value - want) < 1e-9 : value === want, `${c.name}: ${key} ${value}`)
      }
    }
    await db.close()
  })
}

// The files are found by listing the folder: a new one that no test above loads fails here.
test('recall_rankings vectors', () => {
  for (const c of loadVectors('recall_rankings.json')) {
    const facts = c.input.facts.map(camelKeys)
    const run = () => keel.rankFacts(c.input.query, facts, { now: c.input.now, limit: c.input.limit })
    if (c.expected_error_code) {
      assert.throws(run, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
      continue
    }
    const got = run()
    assert.deepEqual(got.map((r) => r.fact.id), c.expected.map((e) => e.id), c.name)
    got.forEach((r, i) => {
      for (const key of ['score', 'bm25', 'recency', 'access']) {
        assert.ok(Math.abs(r[key] - c.expected[i][key]) < 2e-6, `${c.name}: ${key}`)
      }
    })
  }
})

test('fact_extraction vectors', () => {
  for (const c of loadVectors('fact_extraction.json')) {
    const { answer, ...options } = c.input
    const run = () => keel.readFactExtraction(answer, options)
    if (c.expected_error_code) {
      assert.throws(run, { code: c.expected_error_code, field: `options.${camel(c.expected_error_field)}` }, c.name)
      continue
    }
    const got = run()
    const rejected = got.rejected.map((r) => ({ index: r.index, field: r.field }))
    const expected = { facts: c.expected.facts.map(camelKeys), rejected: c.expected.rejected, belowConfidence: c.expected.below_confidence }
    assert.deepEqual({ facts: got.facts, rejected, belowConfidence: got.belowConfidence }, expected, c.name)
  }
})

for (const [file, run] of [
  ['failure_kinds.json', (input) => keel.classifyFailure(input)],
  ['retry_schedules.json', (input) => keel.retryDelays(input)],
]) {
  test(`${file} vectors`, () => {
    for (const c of loadVectors(file)) {
      const call = () => run(camelKeys(c.input))
      if (c.expected_error_code) {
        assert.throws(call, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
        continue
      }
      assert.deepEqual(call(), camelKeys(c.expected), c.name)
    }
  })
}

test('agent_configs.json vectors', () => {
  for (const c of loadVectors('agent_configs.json')) {
    const call = () => keel.agentConfig(camelKeys(c.input))
    if (c.expected_error_code) {
      assert.throws(call, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
      continue
    }
    const { kinds, ...rest } = c.expected
    assert.deepEqual(call(), { ...camelKeys(rest), kinds: kinds.map(camelKeys) }, c.name)
  }
})

test('rate_limit_decisions.json vectors', () => {
  for (const c of loadVectors('rate_limit_decisions.json')) {
    const call = () => keel.rateLimitDecide(camelKeys(c.input))
    if (c.expected_error_code) {
      assert.throws(call, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
      continue
    }
    const { decision, ...rest } = c.expected
    assert.deepEqual(call(), { ...camelKeys(rest), decision: camelKeys(decision) }, c.name)
  }
})

test('minhash_signatures.json vectors', () => {
  for (const c of loadVectors('minhash_signatures.json')) {
    const options = camelKeys(c.input.options)
    const call = () => keel.minhash(c.input.text, options)
    if (c.expected_error_code) {
      const field = c.expected_error_field === 'text' ? 'text' : `options.${camel(c.expected_error_field)}`
      assert.throws(call, { code: c.expected_error_code, field }, c.name)
      continue
    }
    const sig = call()
    assert.deepEqual([...sig.values], c.expected.values, c.name)
    assert.equal(sig.toBytes().toString('hex'), c.expected.bytes, c.name)
    assert.ok(keel.MinHash.fromBytes(sig.toBytes()).equals(sig), c.name)
    assert.ok(new keel.MinHasher(options).signature(c.input.text).equals(sig), c.name)
  }
})

test('lsh_params.json vectors', () => {
  for (const c of loadVectors('lsh_params.json')) {
    const call = () => new keel.MinHashLsh(camelKeys(c.input))
    if (c.expected_error_code) {
      assert.throws(call, { code: c.expected_error_code, field: `options.${camel(c.expected_error_field)}` }, c.name)
      continue
    }
    const lsh = call()
    assert.deepEqual([lsh.bands, lsh.rows], [c.expected.bands, c.expected.rows], c.name)
    assert.ok(Math.abs(lsh.confirmAt - c.expected.confirm_at) < 1e-9, c.name)
  }
})

test('lsh_queries.json vectors', () => {
  for (const c of loadVectors('lsh_queries.json')) {
    const lsh = new keel.MinHashLsh({ threshold: c.input.threshold })
    for (const item of c.input.items) lsh.insert(item.key, keel.minhash(item.text))
    const query = keel.minhash(c.input.query)
    assert.deepEqual({ candidates: lsh.candidates(query), similar: lsh.query(query) }, c.expected, c.name)
  }
})

test('dedup_keys.json vectors', () => {
  for (const c of loadVectors('dedup_keys.json')) {
    const call = () => keel.dedupKey(camelTop(c.input))
    if (c.expected_error_code) {
      assert.throws(call, { code: c.expected_error_code, field: camel(c.expected_error_field) }, c.name)
      continue
    }
    assert.equal(call(), c.expected, c.name)
  }
})

test('dedup_merges.json vectors', () => {
  /** A report with its fields in camelCase and its context as given. */
  const report = (r) => ({ ...camelKeys(r), ...(r.context ? { context: r.context } : {}) })
  for (const c of loadVectors('dedup_merges.json')) {
    const options = c.input.queue_priority === undefined ? undefined : { queuePriority: c.input.queue_priority }
    const call = () => keel.mergeReports(c.input.reports.map(report), options)
    if (c.expected_error_code) {
      const field = c.expected_error_field.replace(/_([a-z])/g, (_, x) => x.toUpperCase())
      assert.throws(call, { code: c.expected_error_code, field }, c.name)
      continue
    }
    const { group, escalated } = c.expected
    assert.deepEqual(call(), { group: camelKeys(group), escalated }, c.name)
  }
})

test('thread_answers.json vectors', () => {
  for (const c of loadVectors('thread_answers.json')) {
    const call = () => keel.readThreadContext(c.input.answer)
    if (c.expected_error_code) {
      assert.throws(call, { code: c.expected_error_code, field: c.expected_error_field }, c.name)
      continue
    }
    const expected = { ...c.expected, entities: c.expected.entities.map(camelKeys) }
    assert.deepEqual(call(), expected, c.name)
  }
})

test('thread_transcripts.json vectors', () => {
  for (const c of loadVectors('thread_transcripts.json')) {
    const { messages, ...options } = c.input
    const call = () => keel.threadTranscript(messages, options)
    if (c.expected_error_code) {
      const field = c.expected_error_field.startsWith('messages') ? c.expected_error_field : `options.${camel(c.expected_error_field)}`
      assert.throws(call, { code: c.expected_error_code, field }, c.name)
      continue
    }
    assert.deepEqual(call(), c.expected, c.name)
  }
})

test('fleet_statuses.json vectors', () => {
  for (const c of loadVectors('fleet_statuses.json')) {
    const call = () => keel.agentStatus(camelKeys(c.input.metrics), { now: c.input.now })
    if (c.expected_error_code) {
      const [root, ...rest] = c.expected_error_field.split('.')
      const field = rest.length ? `${root}.${camel(rest.join('.'))}` : `options.${camel(root)}`
      assert.throws(call, { code: c.expected_error_code, field }, c.name)
      continue
    }
    assert.deepEqual(call(), camelKeys(c.expected), c.name)
  }
})

test('fleet_alerts.json vectors', () => {
  for (const c of loadVectors('fleet_alerts.json')) {
    const { state, status, ...options } = c.input
    const call = () => keel.nextAlert(camelKeys(state), status, camelKeys(options))
    if (c.expected_error_code) {
      const f = c.expected_error_field
      const field = f === 'status' || f.startsWith('state.') ? camel(f) : `options.${camel(f)}`
      assert.throws(call, { code: c.expected_error_code, field }, c.name)
      continue
    }
    const { notify, state: next, held } = c.expected
    assert.deepEqual(call(), { notify, state: camelKeys(next), held }, c.name)
  }
})

test('fleet_notices.json vectors', () => {
  for (const c of loadVectors('fleet_notices.json')) {
    const call = () => keel.fleetAlertMessage(camelKeys(c.input.notice))
    if (c.expected_error_code) {
      const [root, ...rest] = c.expected_error_field.split('.')
      assert.throws(call, { code: c.expected_error_code, field: `${root}.${camel(rest.join('.'))}` }, c.name)
      continue
    }
    // Slack's payload is Slack's JSON: its keys are not recased.
    assert.deepEqual(call(), c.expected, c.name)
  }
})

/** Files run by a test file of their own (each test file is a process of its own here). */
const RUN_ELSEWHERE = { 'host_answers.json': 'host_tasks.test.mjs' }

test('every file in testdata has a runner', () => {
  const files = readdirSync(TESTDATA, { recursive: true }).filter((f) => f.endsWith('.json')).sort()
  assert.ok(files.length >= 15, String(files.length))
  for (const [file, runner] of Object.entries(RUN_ELSEWHERE)) {
    assert.ok(readFileSync(new URL(runner, import.meta.url), 'utf8').includes(`loadVectors('${file}')`), runner)
    LOADED.add(file)
  }
  assert.deepEqual(files, [...LOADED].sort(), `no runner for ${files.filter((f) => !LOADED.has(f))}`)
})

/** An object's own keys in camelCase, its values (maps of the caller's keys) as they are. */
const camelTop = (value) =>
  value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), v])) : value

for (const c of loadVectors('otlp_config.json')) {
  test(`otlp_config: ${c.name}`, () => {
    const run = () => keel.otlpConfig(camelTop(c.input.options), c.input.env)
    if (c.expected_error_code) {
      const field = c.expected_error_field_js ?? c.expected_error_field
      assert.throws(run, (err) => err.code === c.expected_error_code && err.field === field)
    } else {
      assert.deepEqual(run(), camelTop(c.expected))
    }
  })
}
