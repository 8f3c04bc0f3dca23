// Traces: search `system_logs` (trace, org, agent, service, level, text, time), page on the
// server, and open a trace as its span tree with a timeline.

import { call } from '../api'
import { badge, field, formValues, h, input, select, table, traceLink } from '../dom'

interface LogEvent {
  id: string
  timestamp: string
  level: string
  service: string
  action: string
  trace_id: string | null
  agent_name: string | null
  org_id: string | null
  duration_ms: number | null
  error_message: string | null
  metadata: Record<string, unknown>
}

const LEVELS: [string, string][] = [['', 'any level'], ['debug', 'debug+'], ['info', 'info+'], ['warn', 'warn+'], ['error', 'error']]

/** The log search, its filters taken from (and kept in) the address. */
export function logsView(root: HTMLElement, params: URLSearchParams): void {
  const form = h(
    'form',
    { class: 'filters', 'data-testid': 'log-filters' },
    field('trace', input('trace_id', params.get('trace_id') ?? '', 'trace id')),
    field('org', input('org_id', params.get('org_id') ?? '', 'org id')),
    field('agent', input('agent', params.get('agent') ?? '')),
    field('service', input('service', params.get('service') ?? '')),
    field('level', select('level', LEVELS, params.get('level') ?? '')),
    field('text', input('text', params.get('text') ?? '', 'in action or error')),
    field('since', input('since', params.get('since') ?? '', 'RFC 3339')),
    h('button', { type: 'submit' }, 'Search'),
  ) as HTMLFormElement
  const results = h('div', { 'data-testid': 'log-results' })
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/logs?${new URLSearchParams(formValues(form))}`
  })
  root.replaceChildren(h('h1', {}, 'Traces and logs'), form, results)
  const args = Object.fromEntries(params)
  void page(results, args, undefined)
}

async function page(results: HTMLElement, args: Record<string, string>, before: string | undefined): Promise<void> {
  const { events, next } = await call<{ events: LogEvent[]; next: string | null }>('logs', { ...args, before })
  const rows = table<LogEvent>(
    [
      ['time', (e) => e.timestamp.replace('T', ' ').replace('Z', '')],
      ['level', (e) => badge(e.level)],
      ['service', (e) => e.service],
      ['action', (e) => e.action],
      ['agent', (e) => e.agent_name ?? '—'],
      ['duration', (e) => (e.duration_ms === null ? '' : `${e.duration_ms} ms`)],
      ['trace', (e) => traceLink(e.trace_id)],
      ['error', (e) => e.error_message ?? ''],
    ],
    events,
    'No event matches.',
  )
  results.append(rows)
  if (next) {
    const more = h('button', { class: 'more', onclick: () => { more.remove(); void page(results, args, next) } }, 'Load more')
    results.append(more)
  }
}

interface TraceEvent extends LogEvent {
  span_id: string | null
  parent_span_id: string | null
  depth: number
  offset_ms: number
}

/** A trace as its span tree, each span a bar on the trace's timeline. */
export async function traceView(root: HTMLElement, id: string): Promise<void> {
  const trace = await call<{ trace_id: string; start: string; duration_ms: number; events: TraceEvent[] }>('trace', { trace_id: id })
  const total = Math.max(trace.duration_ms, 1)
  const rows = trace.events.map((e) => {
    const left = (100 * e.offset_ms) / total
    const width = e.span_id ? Math.max((100 * (e.duration_ms ?? 0)) / total, 0.5) : 0.5
    const bar = h('div', { class: `bar ${e.span_id ? 'span' : 'event'} ${e.level}` })
    bar.style.marginLeft = `${left}%`
    bar.style.width = `${width}%`
    const name = h('div', { class: 'name' }, e.span_id ? '▸ ' : '· ', e.action, e.duration_ms !== null ? ` ${e.duration_ms} ms` : '')
    name.style.paddingLeft = `${e.depth * 16}px`
    const genai = Object.entries(e.metadata ?? {}).filter(([k]) => k.startsWith('gen_ai.'))
    const details = h(
      'div',
      { class: 'details' },
      ...genai.map(([k, v]) => h('span', { class: 'genai' }, `${k}=${JSON.stringify(v)}`)),
      e.error_message ? h('span', { class: 'error' }, e.error_message) : null,
    )
    return h('div', { class: 'trace-row', 'data-testid': 'trace-row' }, name, h('div', { class: 'timeline' }, bar), details)
  })
  root.replaceChildren(
    h('h1', {}, 'Trace ', h('code', {}, trace.trace_id)),
    h('p', {}, `${trace.events.length} events over ${trace.duration_ms} ms from ${trace.start}. `, h('a', { href: `#/logs?trace_id=${trace.trace_id}` }, 'as a list')),
    h('div', { class: 'trace', 'data-testid': 'trace-tree' }, ...rows),
  )
}
