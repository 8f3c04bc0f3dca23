// OTLP export from JavaScript to Arize Phoenix, a real receiver on loopback: `connect(url,
// { otlp })` configures it, and one trace holds the host's web request, Keel's span, a host
// span inside Keel's (through `otelContext`), and the LLM call with its provider attempt.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node'

import keel from '../index.js'
import { freshUrl, startLoopback, startPhoenix } from './helpers.mjs'

const HELLO = [{ role: 'user', content: 'hello' }]
const PRICES = { creditCost: 1, inputCostPerMtok: 1, outputCostPerMtok: 1, maxTokens: 100 }

let loopback, phoenix
before(async () => {
  ;[loopback, phoenix] = await Promise.all([startLoopback(), startPhoenix()])
})
after(() => {
  loopback.stop()
  phoenix.stop()
})

test('one trace holds the host request, Keel and the provider call', async () => {
  const host = new NodeTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: `${phoenix.url}/v1/traces` }))],
  })
  host.register()
  const tracer = host.getTracer('host')
  const db = await keel.connect(freshUrl('sqlite'), { otlp: { endpoint: phoenix.url, timeout: 5 } })
  const router = await db.modelRouter({ seedDefaults: false })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'anthropic', modelId: 'claude-a', ...PRICES })
  const llm = router.llm({ providers: loopback.providers() })

  let web, log, done
  await tracer.startActiveSpan('web.request', async (span) => {
    web = span
    log = db.createLogger('node-svc')
    const step = log.createSpan('keel.step')
    tracer.startActiveSpan('host.inside', {}, keel.otelContext(step), (inside) => inside.end())
    step.stop()
    done = await llm.complete({ feature: 'copilot', tier: 'low', messages: HELLO })
    span.end()
  })
  await log.flush()
  await host.forceFlush()

  const { traceId, spanId: webId } = web.spanContext()
  assert.equal(done.traceId.replaceAll('-', ''), traceId, 'the call joined the host trace')
  const spans = await phoenix.spans(traceId, 5)
  const named = (name) => spans.find((s) => s.name === name)
  const action = (name) => spans.find((s) => s.attributes['keel.action'] === name)
  assert.equal(named('keel.step').parent_id, webId)
  assert.equal(named('host.inside').parent_id, named('keel.step').context.span_id)
  assert.equal(action('gen_ai.chat').parent_id, webId)
  assert.equal(action('gen_ai.attempt').parent_id, action('gen_ai.chat').context.span_id)
  assert.equal(action('gen_ai.attempt').name, 'chat claude-a')
  assert.deepEqual(log.exportStats(), { exported: 3, dropped: 0, failedExports: 0 })
  for (const value of [undefined, null, web, { traceparent: () => 'x' }]) {
    assert.throws(() => keel.otelContext(value), (err) => err instanceof TypeError && err.code === 'invalid_input' && err.field === 'span')
  }
  await db.close()
})

test('bad export options name the field, and a handle without export has no exporter', async () => {
  await assert.rejects(keel.connect('sqlite::memory:', { otlp: { samplerArg: 2 } }), {
    code: 'invalid_input',
    field: 'options.otlp.samplerArg',
  })
  const db = await keel.connect('sqlite::memory:')
  assert.equal(db.createLogger('no-export').exportStats(), null)
  await db.close()
})
