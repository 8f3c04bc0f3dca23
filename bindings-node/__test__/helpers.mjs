// Shared helpers: the vectors in testdata/ and fresh databases on SQLite and PostgreSQL.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'

const here = dirname(fileURLToPath(import.meta.url))

export const TESTDATA = join(here, '..', '..', 'testdata')

/** The vector files loaded so far (through `loadVectors`). */
export const LOADED = new Set()

/** The shared cases in testdata/<name>. */
export function loadVectors(name) {
  LOADED.add(name)
  return JSON.parse(readFileSync(join(TESTDATA, name), 'utf8'))
}

/** The throwaway PostgreSQL of `make test`. Storage tests fail rather than skip without it. */
export function pgAdminUrl() {
  const url = process.env.KEEL_TEST_PG_URL
  if (!url) throw new Error('KEEL_TEST_PG_URL is not set: run through `make test` or scripts/with-postgres.sh')
  return url
}

/** An empty database on `backend`. */
export function freshUrl(backend) {
  if (backend === 'sqlite') return `sqlite://${join(mkdtempSync(join(tmpdir(), 'keel-node-')), 'keel.db')}`
  const admin = pgAdminUrl()
  const name = `keel_node_${randomBytes(8).toString('hex')}`
  execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`])
  return `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`
}

export const BACKENDS = ['sqlite', 'postgres']

/** The sum of an org's ledger rows, read straight from the database (not through Keel). */
export function ledgerSum(url, orgId) {
  if (!/^[0-9a-f-]{36}$/.test(orgId)) throw new Error('an org id, never SQL')
  if (url.startsWith('sqlite://')) {
    const script = 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("SELECT coalesce(sum(amount), 0) FROM credit_ledger WHERE org_id = ?", (sys.argv[2],)).fetchone()[0])'
    return Number(execFileSync('python3', ['-c', script, url.slice('sqlite://'.length), orgId], { encoding: 'utf8' }))
  }
  const sql = `SELECT coalesce(sum(amount), 0) FROM keel.credit_ledger WHERE org_id = '${orgId}'`
  return Number(execFileSync('psql', [url, '-tAc', sql], { encoding: 'utf8' }))
}

const REPO = join(here, '..', '..')

/**
 * The model provider on loopback (`keel loopback`, built with the CLI when needed), scripted
 * over HTTP; `stop()` ends it.
 */
export async function startLoopback() {
  const { spawn } = await import('node:child_process')
  execFileSync('cargo', ['build', '-q', '-p', 'keel-cli'], { cwd: REPO, stdio: 'inherit' })
  const proc = spawn(join(REPO, 'target', 'debug', 'keel'), ['loopback'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const baseUrl = await new Promise((resolve, reject) => {
    let text = ''
    proc.stdout.on('data', (chunk) => {
      text += chunk
      const match = /http:\/\/\S+/.exec(text)
      if (match) resolve(match[0])
    })
    proc.on('exit', (code) => reject(new Error(`keel loopback exited with ${code}`)))
  })
  const post = async (path, body) => {
    const response = await fetch(baseUrl + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    return response.json()
  }
  return {
    baseUrl,
    /** Queues replies for `model` (see cli/src/loopback.rs for their shapes). */
    script: (model, ...replies) => post('/_loopback/script', { model, replies }),
    received: () => post('/_loopback/received', {}),
    reset: () => post('/_loopback/reset', {}),
    providers: () => ({
      anthropic: { apiKey: 'key-anthropic', baseUrl },
      google: { apiKey: 'key-google', baseUrl },
      openai: { apiKey: 'key-openai', baseUrl: `${baseUrl}/v1` },
    }),
    stop: () => proc.kill(),
  }
}

/** A free TCP port on loopback. */
async function freePort() {
  const { createServer } = await import('node:net')
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/**
 * Arize Phoenix on loopback (from `make phoenix`, or `KEEL_PHOENIX`): an OTLP receiver whose
 * REST API lists the spans it holds. `spans(traceId, count)` waits until it holds `count`;
 * `stop()` ends it.
 */
export async function startPhoenix() {
  const { spawn } = await import('node:child_process')
  const { existsSync } = await import('node:fs')
  const binary = process.env.KEEL_PHOENIX ?? join(REPO, '.venv-phoenix', 'bin', 'phoenix')
  if (!existsSync(binary)) throw new Error(`no Phoenix at ${binary}: run \`make phoenix\` (or set KEEL_PHOENIX)`)
  const port = await freePort()
  const env = {
    ...process.env,
    PHOENIX_WORKING_DIR: mkdtempSync(join(tmpdir(), 'keel-phoenix-')),
    PHOENIX_HOST: '127.0.0.1',
    PHOENIX_PORT: String(port),
    PHOENIX_GRPC_PORT: String(await freePort()),
    PHOENIX_TELEMETRY_ENABLED: 'false',
  }
  const proc = spawn(binary, ['serve'], { env, stdio: 'ignore' })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break
    } catch {}
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error('Phoenix did not start')
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return {
    url,
    async spans(traceId, count) {
      const until = Date.now() + 30_000
      for (;;) {
        const body = await (await fetch(`${url}/v1/projects/default/spans?trace_id=${traceId}`)).json()
        if (body.data.length >= count) return body.data
        if (Date.now() > until) throw new Error(`Phoenix holds ${body.data.length} spans of ${traceId}`)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    },
    stop: () => proc.kill(),
  }
}

/** `turns` rounds of a question, a CRM lookup and its 800-byte result: a conversation to compact. */
export function rounds(turns) {
  const out = []
  for (let i = 0; i < turns; i++) {
    out.push({ role: 'user', content: `What changed on the Acme deal, round ${i}?` })
    out.push({ role: 'assistant', content: [{ type: 'tool_call', id: `call-${i}`, name: 'crm_search', arguments: { round: i } }] })
    out.push({ role: 'tool', content: [{ type: 'tool_result', callId: `call-${i}`, content: 'r'.repeat(800) }] })
  }
  return out
}

/** Compaction options small enough for `rounds(100)` to be compacted. */
export const SMALL = { threshold: 4000, recentTokens: 1000, toolResultTokens: 500, summaryInputTokens: 2000, summaryTokens: 300 }
