// The console's page: a view per address (`#/logs`, `#/trace/<id>`, `#/fleet`,
// `#/executions`, `#/queue`, `#/models`, `#/ledger/<org>`, `#/skills`, `#/skill/<key>`,
// `#/routing`), each drawn from the server's JSON API.

import { ApiError, call, type Meta } from './api'
import { h } from './dom'
import { executionsView, fleetView, stopFleet } from './views/fleet'
import { ledgerView, modelsView } from './views/models'
import { queueView, stopQueue } from './views/queue'
import { routingView } from './views/routing'
import { skillsView, skillView } from './views/skills'
import { logsView, traceView } from './views/traces'

const NAV: [string, string][] = [
  ['#/logs', 'Traces'],
  ['#/fleet', 'Fleet'],
  ['#/queue', 'Queue'],
  ['#/models', 'Models'],
  ['#/skills', 'Skills'],
  ['#/routing', 'Routing'],
]

async function show(meta: Meta): Promise<void> {
  const root = document.getElementById('view') as HTMLElement
  const [path, query] = (location.hash.slice(1) || '/fleet').split('?')
  const params = new URLSearchParams(query ?? '')
  const [, view, arg] = path.split('/').map(decodeURIComponent)
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    link.classList.toggle('active', link.getAttribute('href') === `#/${view}`)
  }
  stopFleet()
  stopQueue()
  try {
    switch (view) {
      case 'logs': return logsView(root, params)
      case 'trace': return await traceView(root, arg)
      case 'fleet': return await fleetView(root)
      case 'executions': return await executionsView(root, params)
      case 'queue': return await queueView(root, params, meta)
      case 'models': return await modelsView(root, meta)
      case 'ledger': return await ledgerView(root, arg)
      case 'skills': return await skillsView(root, params, meta)
      case 'skill': return await skillView(root, arg, meta)
      case 'routing': return await routingView(root, params)
      default: root.replaceChildren(h('p', {}, 'No such view.'))
    }
  } catch (err) {
    const text = err instanceof ApiError ? `${err.code}${err.field ? ` (${err.field})` : ''}: ${err.message}` : String(err)
    root.replaceChildren(h('p', { class: 'error', 'data-testid': 'error' }, text))
  }
}

async function start(): Promise<void> {
  const meta = await call<Meta>('about')
  document.getElementById('nav')?.replaceChildren(...NAV.map(([href, label]) => h('a', { href }, label)))
  document.getElementById('mode')?.replaceChildren(
    h('span', { class: 'muted' }, `${meta.database} · keel ${meta.version} · ${meta.allow_actions ? 'actions allowed' : 'read-only'}`),
  )
  window.addEventListener('hashchange', () => void show(meta))
  await show(meta)
}

void start()
