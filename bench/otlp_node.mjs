// Per-span cost from Node with OTLP export on: Keel's `createSpan` + `stop` (exported by core's
// exporter, no system_logs) against the OpenTelemetry SDK's `startSpan` + `end` with its
// BatchSpanProcessor and OTLP/HTTP (protobuf) exporter, both sending to the same discarding
// receiver (bench/otlp_sink.mjs). Also Keel's `info` with export on. Prints one JSON object of ns
// per call (best of rounds): on the caller's path, and until the receiver has every span.
import { createRequire } from 'node:module'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const CALLS = 10_000
const ROUNDS = 7
const META = { 'gen_ai.request.model': 'claude-sonnet-4-6', 'gen_ai.usage.input_tokens': 1240 }

// Best of rounds, per call: on the caller's path (the loop), and until exported (the loop and
// the flush that waits for the receiver to accept every span of the round).
async function best(fn, settle) {
  let [caller, exported] = [Infinity, Infinity]
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) fn()
    const looped = process.hrtime.bigint()
    await settle()
    caller = Math.min(caller, Number(looped - start) / CALLS)
    exported = Math.min(exported, Number(process.hrtime.bigint() - start) / CALLS)
  }
  return [caller, exported]
}

const sink = spawn(process.execPath, [new URL('./otlp_sink.mjs', import.meta.url).pathname], { stdio: ['ignore', 'pipe', 'inherit'] })
const [line] = await once(sink.stdout, 'data')
const url = String(line).trim()

const db = await keel.connect('sqlite::memory:', { otlp: { endpoint: url, systemLogs: false } })
const log = db.createLogger('bench')
const provider = new BasicTracerProvider({
  // A queue that holds a whole round, as Keel's does: neither side drops.
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }), { maxQueueSize: 2 * CALLS })],
})
const tracer = provider.getTracer('bench')

const [keelSpan, keelSpanExported] = await best(() => log.createSpan('model_router.resolve', META).stop(), () => log.flush())
const [otelSpan, otelSpanExported] = await best(
  () => tracer.startSpan('model_router.resolve', { attributes: META }).end(),
  () => provider.forceFlush(),
)
const [keelInfo] = await best(() => log.info('model_router.tier_resolved', META), () => log.flush())
const results = {
  keel_span: keelSpan,
  otel_span: otelSpan,
  keel_span_exported: keelSpanExported,
  otel_span_exported: otelSpanExported,
  keel_info_exporting: keelInfo,
}
const stats = log.exportStats()
results.keel_exported = stats.exported
results.keel_dropped = stats.dropped
await provider.shutdown()
await db.close()
sink.kill()
process.stdout.write(JSON.stringify(results) + '\n')
