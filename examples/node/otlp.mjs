// OpenTelemetry export: Keel's spans over OTLP to the receiver the platform runs, the log
// events inside a span as its events, and a model call's spans (GenAI conventions) under the
// caller's span.
// The same scenario runs in examples/rust/otlp.rs and examples/python/otlp.py.
//
//     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT node examples/node/otlp.mjs  # `keel loopback` takes both
//     OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 node examples/node/otlp.mjs  # Phoenix, real APIs
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// `keel loopback` answers the model calls and takes the spans; else OTEL_* say where to.
const base = process.env.KEEL_LLM_BASE_URL
// --8<-- [start:otlp]
const otlp = base ? { endpoint: base } : {}
const config = keel.otlpConfig(otlp)
console.log(config ? `exporting spans over ${config.protocol}` : 'export is off (set OTEL_EXPORTER_OTLP_ENDPOINT)')
const db = await keel.connect(url, { otlp })
const router = await db.modelRouter()
const paths = { anthropic: '', google: '', openai: '/v1' }
const providers = base ? Object.fromEntries(Object.entries(paths).map(([p, path]) => [p, { baseUrl: base + path }])) : {}
const llm = router.llm({ providers })

const log = db.createLogger('copilot-autonomous')
const span = log.createSpan('handle_message', { channel: 'slack' })
log.info('skills.cache_hit', { entries: 12 }) // travels as an event of handle_message
const done = await llm.complete({
  feature: 'copilot',
  tier: 'low',
  traceparent: span.traceparent(), // the call's spans nest under handle_message
  messages: [{ role: 'user', content: 'How do I prep for my Acme meeting?' }],
})
span.stop()
console.log(`the call joined the trace: ${done.traceId === log.traceId}`)
await log.flush() // written, and exported or counted as dropped
const stats = log.exportStats()
if (stats) console.log(`${stats.exported} spans exported (handle_message, the call, its attempt), ${stats.dropped} dropped`)
await db.close()
// --8<-- [end:otlp]
