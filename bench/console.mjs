// The console's API on PostgreSQL at size (issue 22: each call ≤ 50 ms with 1,000,000 log rows
// and 100,000 executions, here with 100,000 queue items too; the page's first render ≤ 1 s on
// loopback). Fills a fresh database (KEEL_BENCH_PG_URL's server) in SQL, starts `keel serve`
// on it, times each call the console makes (p50 and max of 20), then loads the page in
// Debian's Chromium and times its first render. Prints one JSON object.
import { spawn, execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { freshDatabase } from './peers.mjs'

const root = new URL('../', import.meta.url).pathname
const { chromium } = createRequire(join(root, 'console/package.json'))('playwright-core')
const bin = process.env.KEEL_BIN ?? join(root, 'target/release/keel')
const LOGS = Number(process.env.KEEL_BENCH_LOGS ?? 1_000_000)
const RUNS = Number(process.env.KEEL_BENCH_RUNS ?? 100_000)
const ITEMS = Number(process.env.KEEL_BENCH_ITEMS ?? 100_000)

const url = freshDatabase()
const psql = (sql) => execFileSync('psql', [url, '-qc', sql])
execFileSync(bin, ['migrate', '--database-url', url], { stdio: 'ignore' })
const fillStart = process.hrtime.bigint()
// 30 days of logs: mostly info and debug, 100 orgs, 7 agents, a trace per 10 rows.
psql(`INSERT INTO keel.system_logs (trace_id, span_id, "timestamp", service, action, level, org_id, agent_name, duration_ms, metadata)
  SELECT md5('t' || (g / 10))::uuid, md5('s' || g)::uuid, now() - (g * interval '2.592 seconds'),
         'svc-' || (g % 5), 'step.' || (g % 50),
         (ARRAY['debug','info','info','info','info','warn','info','debug','info','error'])[1 + g % 10],
         md5('o' || (g % 100))::uuid, 'agent-' || (g % 7), g % 900, '{"k": 1}'::jsonb
  FROM generate_series(1, ${LOGS}) g`)
psql(`INSERT INTO keel.agent_executions (trace_id, agent_name, execution_type, started_at, completed_at, status, org_id)
  SELECT md5('t' || g)::uuid, 'agent-' || (g % 10), 'cron', now() - (g * interval '25.92 seconds'),
         now() - (g * interval '25.92 seconds') + interval '2 seconds',
         (ARRAY['completed','completed','completed','failed'])[1 + g % 4], md5('o' || (g % 100))::uuid
  FROM generate_series(1, ${RUNS}) g`)
psql(`INSERT INTO keel.routing_logs (id, org_id, channel, message_hash, message_snippet, route, skill_key, matched_by, stage, confidence, out_of_scope, cached, candidates, skills_version, trace_id, latency_us, created_at)
  SELECT gen_random_uuid(), md5('o' || (g % 100))::uuid, 'web', md5(g::text), 'message ' || g, 'deal-status', 'deal-status', 'skill_trigger',
         (ARRAY['index','index','rules','fallback'])[1 + g % 4], (g % 100) / 100.0, g % 4 = 3, g % 4 = 2, '[]', 'v1', gen_random_uuid(), 40, now() - (g * interval '25.92 seconds')
  FROM generate_series(1, ${RUNS}) g`)
// A week of Command Centre items, one every 6 s: each finished 2 to 20 minutes after it came
// in, but for the newest 2,000, still pending.
psql(`INSERT INTO keel.command_centre_items (org_id, source_agent, item_type, title, queue_priority, created_at, queued_at,
         enrichment_status, processing_started_at, processing_attempts, enriched_at, updated_at)
  SELECT md5('o' || (g % 100))::uuid, 'agent-' || (g % 7), 'deal', 'item ' || g, g % 4, c, c,
         CASE WHEN g <= 2000 THEN 'pending' ELSE 'enriched' END,
         CASE WHEN g > 2000 THEN c + interval '1 minute' END, CASE WHEN g > 2000 THEN 1 ELSE 0 END,
         CASE WHEN g > 2000 THEN c + (2 + g % 19) * interval '1 minute' END,
         CASE WHEN g > 2000 THEN c + (2 + g % 19) * interval '1 minute' ELSE c END
  FROM generate_series(1, ${ITEMS}) g, LATERAL (SELECT now() - g * interval '6 seconds' AS c) t`)
execFileSync(bin, ['partitions', 'maintain', '--database-url', url], { stdio: 'ignore' })
psql('ANALYZE')
const fill_s = Number(process.hrtime.bigint() - fillStart) / 1e9

const server = spawn(bin, ['serve', '--json', '--listen', '127.0.0.1:0', '--database-url', url], { stdio: ['ignore', 'pipe', 'ignore'] })
const base = await new Promise((resolve) => {
  let out = ''
  server.stdout.on('data', (chunk) => {
    out += chunk
    const found = /"url":\s*"([^"]+)"/.exec(out)
    if (found) resolve(found[1])
  })
})

const org = execFileSync('psql', [url, '-Atc', "SELECT md5('o7')::uuid"]).toString().trim()
const trace = execFileSync('psql', [url, '-Atc', "SELECT md5('t' || 4242)::uuid"]).toString().trim()
const calls = {
  logs: ['logs', {}],
  logs_errors: ['logs', { level: 'error' }],
  logs_org: ['logs', { org_id: org }],
  logs_agent: ['logs', { agent: 'agent-3' }],
  logs_service_day: ['logs', { service: 'svc-2', since: new Date(Date.now() - 86_400_000).toISOString() }],
  logs_text_hour: ['logs', { text: 'step.4', since: new Date(Date.now() - 3_600_000).toISOString() }],
  logs_trace: ['logs', { trace_id: trace }],
  trace: ['trace', { trace_id: trace }],
  executions: ['executions', {}],
  executions_agent: ['executions', { agent_name: 'agent-3' }],
  fleet: ['fleet', { period_ms: 86_400_000 }],
  queue: ['queue', {}],
  queue_history_day: ['queue_history', {}],
  queue_history_week: ['queue_history', { hours: 168, points: 168 }],
  letters: ['letters', {}],
  models: ['models', {}],
  credits: ['credits', {}],
  skills: ['skills', {}],
  routing: ['routing', {}],
  routing_oos: ['routing', { out_of_scope: true }],
  routing_stats_week: ['routing_stats', { since: new Date(Date.now() - 7 * 86_400_000).toISOString() }],
}
const result = { logs: LOGS, executions: RUNS, items: ITEMS, fill_s }
for (const [name, [op, args]] of Object.entries(calls)) {
  const times = []
  for (let i = 0; i < 21; i++) {
    const start = process.hrtime.bigint()
    const response = await fetch(`${base}api/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) })
    if (!response.ok) throw new Error(`${name}: ${response.status} ${await response.text()}`)
    await response.arrayBuffer()
    if (i > 0) times.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  times.sort((a, b) => a - b)
  result[`${name}_ms`] = { p50: times[10], max: times[times.length - 1] }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const renders = []
for (let i = 0; i < 5; i++) {
  const page = await browser.newPage()
  const start = Date.now()
  await page.goto(`${base}#/fleet`)
  await page.getByTestId('fleet-summary').waitFor()
  renders.push(Date.now() - start)
  await page.close()
}
renders.sort((a, b) => a - b)
result.first_render_ms = { p50: renders[2], max: renders[4] }
await browser.close()
server.kill('SIGINT')
console.log(JSON.stringify(result))
