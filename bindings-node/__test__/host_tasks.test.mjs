// Model tasks done by the platform's own models: an async function as routing's classifier and
// embedder and as compaction's summarizer (core: keel::llm::HostTask, which writes what the
// function is handed and reads what it answers), on both backends.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'

import keel from '../index.js'
import { BACKENDS, SMALL, freshUrl, loadVectors, rounds, startLoopback } from './helpers.mjs'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ORG = '0a0a0a0a-0000-4000-8000-00000000000c'
// The index never decides, so every route reaches the model stages.
const UNDECIDED = { thresholds: { sequence: 1, skill: 1 }, log: false, llmTimeout: 1 }
const VOCABULARY = ['deal', 'pipeline', 'forecast', 'meeting', 'email', 'risk']
// What a host function may answer and how it reads (core: keel::llm::host's readers).
const ANSWERS = loadVectors('host_answers.json')

let loopback
before(async () => {
  loopback = await startLoopback()
})
after(() => loopback.stop())

async function skills(db) {
  const registry = await db.skillRegistry()
  await registry.sync(`${root}skills`)
  return registry
}

test("Keel's own client is the LLM stage", async () => {
  const db = await keel.connect(freshUrl('sqlite'))
  try {
    const models = await db.modelRouter({ seedDefaults: false })
    await models.setModel({ feature: 'copilot', tier: 'medium', provider: 'openai', modelId: 'route-model', creditCost: 1 })
    const llm = models.llm({ providers: loopback.providers() })
    await loopback.script('route-model', { text: '{"label": "deal-status", "confidence": 0.9}' })
    const router = (await skills(db)).messageRouter(UNDECIDED, llm)
    const d = await router.route('how is the Globex deal going', 'web', ORG, null, { allowLlm: true })
    assert.deepEqual([d.route, d.stage, d.matchedBy, d.confidence], ['deal-status', 'llm', 'llm', 0.9])
    const [request, ...more] = await loopback.received()
    assert.equal(more.length, 0)
    assert.equal(request.model, 'route-model')
    const sent = JSON.stringify(request.body.messages)
    assert.ok(sent.includes('deal-status') && sent.includes('how is the Globex deal going'), sent)
  } finally {
    await db.close()
  }
})

for (const backend of BACKENDS) {
  test(`${backend}: an async function is the LLM stage`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const asked = []
      const router = (await skills(db)).messageRouter(UNDECIDED, async (task) => {
        asked.push(task)
        return { label: 'deal-status', confidence: 0.8 }
      })
      const d = await router.route('how is the Globex deal going', 'web', ORG, null, { allowLlm: true })
      assert.deepEqual([d.route, d.stage, d.matchedBy, d.confidence], ['deal-status', 'llm', 'llm', 0.8])
      assert.equal(asked.length, 1)
      assert.deepEqual(Object.keys(asked[0]).sort(), ['instructions', 'labels', 'text'])
      const names = asked[0].labels.map((l) => l.name)
      assert.ok(names.includes('deal-status') && names.at(-1) === 'none', String(names))
      await router.route('where are we with the Initech deal', 'web', ORG)
      assert.equal(asked.length, 1, 'not allowed, not asked')
      for (const answer of ['email-draft-nope', 42, { label: 'deal-status', confidence: 7 }, new Error('down')]) {
        const classify = async () => {
          if (answer instanceof Error) throw answer
          return answer
        }
        const fallen = await (await skills(db)).messageRouter(UNDECIDED, classify).route('how is the Globex deal going', 'web', ORG, null, { allowLlm: true })
        assert.deepEqual([fallen.route, fallen.stage], ['general', 'fallback'], String(answer))
      }
    } finally {
      await db.close()
    }
  })

  test(`${backend}: an async function is the embedding stage`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const embedded = []
      const embed = async (task) => {
        assert.deepEqual(Object.keys(task).sort(), ['dimensions', 'model', 'texts'])
        embedded.push(...task.texts)
        return { vectors: task.texts.map((t) => VOCABULARY.map((w) => t.toLowerCase().split(w).length - 1)) }
      }
      const router = (await skills(db)).messageRouter(UNDECIDED, null, embed)
      const d = await router.route('deal deal risk risk', 'web', ORG)
      assert.deepEqual([d.stage, d.matchedBy], ['embedding', 'semantic'])
      const skillsAndMessage = embedded.length
      assert.ok(skillsAndMessage >= 17, String(skillsAndMessage))
      await router.route('pipeline forecast', 'web', ORG, null, { skipCache: true })
      assert.equal(embedded.length, skillsAndMessage + 1, 'each skill version is embedded once')
      const short = async (task) => task.texts.slice(1).map(() => [1, 0])
      const fallen = await (await skills(db)).messageRouter(UNDECIDED, null, short).route('deal deal risk', 'web', ORG)
      assert.equal(fallen.stage, 'fallback')
    } finally {
      await db.close()
    }
  })

  test(`${backend}: an async function writes the compaction summary`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const store = db.conversations()
      const orgId = randomUUID()
      const c = await store.start({ orgId, userId: 'U042', channel: 'web' })
      await store.append(orgId, c.id, rounds(100))
      const asked = []
      const summarizer = async (task) => {
        asked.push(task)
        return 'Acme moved to legal; the rep owns the redlines.'
      }
      const { compaction } = await store.compact(orgId, c.id, null, { ...SMALL, summarizer })
      assert.deepEqual([compaction.method, compaction.summary], ['summary', 'Acme moved to legal; the rep owns the redlines.'])
      assert.equal(asked.length, 1)
      assert.deepEqual(Object.keys(asked[0]).sort(), ['instructions', 'text'])
      assert.match(asked[0].text, /Acme deal/)
      for (const answer of [new Error('the model is down'), { summary: 'wrong key' }]) {
        const other = await store.start({ orgId, userId: `U-${randomUUID()}`, channel: 'web' })
        await store.append(orgId, other.id, rounds(100))
        const failing = async () => {
          if (answer instanceof Error) throw answer
          return answer
        }
        const trimmed = (await store.compact(orgId, other.id, null, { ...SMALL, summarizer: failing })).compaction
        assert.equal(trimmed.method, 'trim')
        assert.match(trimmed.note, /the model is down|\{text\}/)
      }
      await assert.rejects(store.compact(orgId, c.id, null, { summarizer: 'gpt-5' }), { code: 'invalid_input', field: 'options.summarizer' })
    } finally {
      await db.close()
    }
  })
}

for (const backend of BACKENDS) {
  test(`${backend}: the vectors' answers decide, fall through or trim`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const registry = await skills(db)
      for (const c of ANSWERS.classify) {
        let asked = 0
        const router = registry.messageRouter(UNDECIDED, async () => {
          asked += 1
          return c.answer
        })
        const d = await router.route(ANSWERS.message, 'web', ORG, null, { allowLlm: true })
        await router.route(ANSWERS.message, 'web', ORG, null, { allowLlm: true })
        if (c.label && c.label !== 'none') {
          assert.deepEqual([d.route, d.stage], [c.label, 'llm'], c.name)
          if (c.confidence !== null) assert.equal(d.confidence, c.confidence, c.name)
        } else {
          assert.deepEqual([d.route, d.stage], ['general', 'fallback'], c.name)
        }
        // A failed stage is never cached, so the second route asks again; an answer is.
        assert.equal(asked, c.code ? 2 : 1, c.name)
      }
      for (const c of ANSWERS.embed) {
        let asked = 0
        const router = registry.messageRouter(UNDECIDED, null, async (task) => {
          asked += 1
          const rows = Array(c.answer_rows ?? task.texts.length).fill(c.row)
          return c.as === 'list' ? rows : { [c.as === 'object' ? 'vectors' : c.as]: rows }
        })
        const d = await router.route('deal deal risk', 'web', ORG)
        await router.route('deal deal risk', 'web', ORG)
        assert.equal(d.stage, c.code ? 'fallback' : 'embedding', c.name)
        assert.equal(asked, c.code ? 2 : 1, c.name)
      }
      const store = db.conversations()
      const orgId = randomUUID()
      for (const c of ANSWERS.summarize) {
        const conversation = await store.start({ orgId, userId: `U-${randomUUID()}`, channel: 'web' })
        await store.append(orgId, conversation.id, rounds(100))
        const summarizer = async () => c.answer
        const { compaction } = await store.compact(orgId, conversation.id, null, { ...SMALL, summarizer })
        if (c.code) assert.equal(compaction.method, 'trim', c.name)
        else assert.deepEqual([compaction.method, compaction.summary], ['summary', c.summary], c.name)
      }
    } finally {
      await db.close()
    }
  })
}
