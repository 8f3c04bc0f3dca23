// Fleet: the health report of `keel health` with each agent's series charted, refreshing
// while open, and an agent's executions with their traces.

import { call } from '../api'
import { badge, h, num, table, traceLink } from '../dom'
import { lineChart } from './chart'

interface AgentHealth {
  name: string
  status: string
  reasons: string[]
  last_success_at: string | null
  runs: number
  failed: number
}

interface Point {
  at_ms: number
  runs: number
  failures: number
  dead_letters: number
}

interface Report {
  status: { checked_at: string; summary: Record<string, number>; agents: AgentHealth[] }
  period_ms: number
  series: Record<string, Point[]>
}

let timer: ReturnType<typeof setInterval> | undefined

/** Stops the fleet view's refresh (when another view opens). */
export function stopFleet(): void {
  if (timer) clearInterval(timer)
  timer = undefined
}

/** The fleet's health now and over the last day, refreshed every 10 s. */
export async function fleetView(root: HTMLElement): Promise<void> {
  stopFleet()
  const draw = async (): Promise<void> => {
    const report = await call<Report>('fleet', { period_ms: 86_400_000 })
    const agents = table<AgentHealth>(
      [
        ['agent', (a) => h('a', { href: `#/executions?agent_name=${encodeURIComponent(a.name)}` }, a.name)],
        ['status', (a) => badge(a.status)],
        ['runs', (a) => num(a.runs)],
        ['failed', (a) => num(a.failed)],
        ['last success', (a) => a.last_success_at ?? 'never'],
        ['why', (a) => a.reasons.join('; ')],
      ],
      report.status.agents,
      'No agent has run yet.',
    )
    const charts = Object.entries(report.series)
      .filter(([, points]) => points.length > 1)
      .map(([agent, points]) =>
        h(
          'figure',
          {},
          h('figcaption', {}, agent),
          lineChart(points.map((p) => p.at_ms / 1000), [
            ['runs', points.map((p) => p.runs)],
            ['failures', points.map((p) => p.failures)],
            ['dead letters', points.map((p) => p.dead_letters)],
          ]),
        ),
      )
    const summary = Object.entries(report.status.summary).map(([k, v]) => h('span', { class: 'stat' }, `${k}: ${v}`))
    root.replaceChildren(
      h('h1', {}, 'Fleet health'),
      h('p', { 'data-testid': 'fleet-summary' }, `Checked ${report.status.checked_at}. `, ...summary),
      agents,
      h('div', { class: 'charts' }, ...charts),
    )
  }
  await draw()
  timer = setInterval(() => void draw().catch(() => undefined), 10_000)
}

interface Execution {
  id: string
  trace_id: string
  agent_name: string
  status: string
  started_at: string
  completed_at: string | null
  attempts: number
  credits_consumed: number
  error_message: string | null
}

/** An agent's executions, newest first, each with its trace. */
export async function executionsView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const agent = params.get('agent_name') ?? undefined
  const runs = await call<Execution[]>('executions', { agent_name: agent, limit: 200 })
  root.replaceChildren(
    h('h1', {}, 'Executions', agent ? ` of ${agent}` : ''),
    table<Execution>(
      [
        ['started', (r) => r.started_at],
        ['agent', (r) => r.agent_name],
        ['status', (r) => badge(r.status)],
        ['attempts', (r) => num(r.attempts)],
        ['credits', (r) => num(r.credits_consumed, 2)],
        ['trace', (r) => traceLink(r.trace_id)],
        ['error', (r) => r.error_message ?? ''],
      ],
      runs,
      'No execution.',
    ),
  )
}
