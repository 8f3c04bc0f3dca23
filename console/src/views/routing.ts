// Routing: decisions over time, the share decided per stage, and the low-confidence and
// out-of-scope messages to review.

import { call } from '../api'
import { badge, field, formValues, h, input, num, select, table, traceLink } from '../dom'
import { lineChart } from './chart'

interface Decision {
  id: string
  created_at: string
  org_id: string
  channel: string
  message_snippet: string
  route: string
  stage: string
  confidence: number
  out_of_scope: boolean
  cached: boolean
  trace_id: string
  latency_us: number
}
interface Stats {
  decisions: number
  out_of_scope: number
  low_confidence: number
  stages: { stage: string; decisions: number; share: number }[]
  hours: { hour: string; decisions: number; out_of_scope: number }[]
}

const WEEK_MS = 7 * 86_400_000

const STAGES: [string, string][] = [['', 'any stage'], ['rules', 'rules'], ['index', 'index'], ['embedding', 'embedding'], ['llm', 'llm'], ['fallback', 'fallback']]

/** The routing log across orgs with its filters. */
export async function routingView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const form = h('form', { class: 'filters', 'data-testid': 'routing-filters' },
    field('org', input('org_id', params.get('org_id') ?? '', 'org id')),
    field('stage', select('stage', STAGES, params.get('stage') ?? '')),
    field('review', select('review', [['', 'all'], ['low', 'confidence < 0.5'], ['oos', 'out of scope']], params.get('review') ?? '')),
    h('button', { type: 'submit' }, 'Filter'),
  ) as HTMLFormElement
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/routing?${new URLSearchParams(formValues(form))}`
  })
  const args: Record<string, unknown> = { org_id: params.get('org_id') ?? undefined, stage: params.get('stage') ?? undefined }
  if (params.get('review') === 'low') args.max_confidence = 0.4999
  if (params.get('review') === 'oos') args.out_of_scope = true
  // The shares and the hourly counts cover the last week; the list pages back through all.
  const stats = await call<Stats>('routing_stats', { ...args, since: new Date(Date.now() - WEEK_MS).toISOString() })
  const hours = stats.hours.length > 1
    ? lineChart(stats.hours.map((x) => Date.parse(x.hour) / 1000), [
      ['decisions', stats.hours.map((x) => x.decisions)],
      ['out of scope', stats.hours.map((x) => x.out_of_scope)],
    ])
    : h('p', { class: 'empty' }, 'Decisions per hour show once there are two hours of them.')
  const shares = h('div', { class: 'shares', 'data-testid': 'stage-shares' }, ...stats.stages.map((s) => {
    const bar = h('div', { class: 'share-bar' })
    bar.style.width = `${Math.round(s.share * 100)}%`
    return h('div', { class: 'share' }, h('span', {}, `${s.stage} ${Math.round(s.share * 100)}% (${s.decisions})`), bar)
  }))
  const list = h('div', { 'data-testid': 'decisions' })
  root.replaceChildren(
    h('h1', {}, 'Routing'),
    form,
    h('p', {}, `Last 7 days: ${num(stats.decisions)} decisions, ${num(stats.out_of_scope)} out of scope, ${num(stats.low_confidence)} below 0.5.`),
    shares,
    hours,
    list,
  )
  const page = async (before?: string): Promise<void> => {
    const { decisions, next } = await call<{ decisions: Decision[]; next: string | null }>('routing', { ...args, before })
    list.append(table<Decision>(
      [
        ['time', (d) => d.created_at],
        ['channel', (d) => d.channel],
        ['message', (d) => d.message_snippet],
        ['route', (d) => d.route],
        ['stage', (d) => badge(d.stage)],
        ['confidence', (d) => d.confidence.toFixed(2)],
        ['', (d) => (d.out_of_scope ? badge('out_of_scope') : d.cached ? badge('cached') : '')],
        ['µs', (d) => num(d.latency_us)],
        ['trace', (d) => traceLink(d.trace_id)],
      ],
      decisions,
      'No decision matches.',
    ))
    if (next) {
      const more = h('button', { class: 'more', onclick: () => { more.remove(); void page(next) } }, 'Load more')
      list.append(more)
    }
  }
  await page()
}
