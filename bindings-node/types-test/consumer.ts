// A TypeScript user of keelcore, type-checked with `tsc --noEmit --strict` by `make lint`:
// every call below must compile against index.d.ts as generated, so a declared type that is
// missing, wrong or named but never declared fails the lint.
import {
  type FleetAgent,
  type PartitionChange,
  type PartitionInfo,
  type FleetAlert,
  type FleetHealth,
  type FleetHealthResponse,
  type FleetReport,
  type FleetStatus,
  type SlackWebhookPayload,
  fleetAlertMessage,
  type Checked,
  type DedupGroup,
  type DedupSweep,
  type Merged,
  type Scored,
  type Similar,
  MinHash,
  MinHashLsh,
  MinHasher,
  dedupKey,
  mergeReports,
  minhash,
  type DeadLetter,
  type WorkReport,
  type Classified,
  classifyFailure,
  retryDelays,
  type RouteCandidate,
  type RouteDecision,
  type RouteEvaluation,
  type RoutingLogRow,
  type AgentBudget,
  type BudgetStatus,
  type CompiledSkill,
  type Completion,
  type Summary,
  type Classification,
  type Embeddings,
  type StreamEvent,
  type CreditMovement,
  type DatabaseUrl,
  type ExportReport,
  type ImportReport,
  type LogStats,
  type ModelResolution,
  type ResolvedSkill,
  type SyncReport,
  type TraceParent,
  type TokenCount,
  checkAgentBudget,
  countMessageTokens,
  countTokens,
  countTokensAsync,
  checkBudget,
  compileSkill,
  connect,
  createLogger,
  deductCredits,
  errorCodes,
  exportSkills,
  importSkills,
  isKeelError,
  fleetAgentBudgets,
  parseDatabaseUrl,
  parseSkill,
  parseTraceparent,
  resolveModel,
  validateSkills,
} from '../index.js'

export async function consumer(orgId: string): Promise<void> {
  const url: DatabaseUrl = parseDatabaseUrl('sqlite::memory:')
  const inMemory: boolean = url.inMemory
  const db = await connect('sqlite::memory:', { maxConnections: 1, connectTimeout: 5 })
  const router = await db.modelRouter({ staleness: 0.5, failureThreshold: 3, defaultTier: 'medium' })

  const pick: ModelResolution = router.resolve('copilot', 'medium', orgId)
  const tier: 'low' | 'medium' | 'high' = pick.tier
  const viaOriginal: ModelResolution = await resolveModel(router, { feature: 'copilot', orgId })
  const transition: string = await router.recordFailure(pick.modelId, { status: 503 })
  await router.recordSuccess(pick.modelId)
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'openai', modelId: 'gpt-5-mini', fallbackOrder: 3 })
  await router.setOrgTier(orgId, 'copilot', 'high')
  await router.reload()

  const granted: CreditMovement = await router.grantCredits(orgId, 10)
  const status: BudgetStatus = await router.checkBudget(orgId)
  const original: BudgetStatus = await checkBudget(router, null, orgId)
  const canProceed: boolean = original.can_proceed && status.can_proceed
  const moved: CreditMovement = await router.deductCredits({ orgId, resolution: pick, inputTokens: 100, outputTokens: 10 })
  const balance: number = await deductCredits(router, null, orgId, pick, { inputTokens: 1, outputTokens: 1 }, 'meeting-prep')
  const held = await router.reserveCredits(orgId, 1, 'call-1')
  const settled: CreditMovement = await router.commitCredits(held.id, 0.5)
  const budget: AgentBudget = checkAgentBudget('eod-summary', 3)
  const limits: Record<string, number> = fleetAgentBudgets()

  const parsed = parseSkill('---\nname: demo\ndescription: d\n---\nHi\n', 'demo')
  const name: string | undefined = parsed.skill?.name
  const display: string | null | undefined = parsed.skill?.displayName
  const affinity: string[] | undefined = parsed.skill?.meta.agentAffinity
  const portable = await validateSkills('skills', { portable: true, signal: AbortSignal.timeout(5000) })
  const imported: ImportReport = await importSkills('skills')
  const exported: ExportReport = await exportSkills('skills', '/tmp/portable')
  const refused: number = imported.refused + exported.skipped.length + portable.diagnostics.length
  const compiled: CompiledSkill = compileSkill('---\nname: demo\ndescription: d\n---\nHi\n', {})
  const skills = await db.skillRegistry({ staleness: 1, maxCachedOrgs: 16 })
  const report: SyncReport = await skills.sync('skills', { dryRun: true, onProgress: (done, total, key) => void [done, total, key] })
  const view = await skills.resolveSkills(orgId, 'web')
  const first: ResolvedSkill | null = view.get(view.keys()[0] ?? '')
  const cached = skills.cached(orgId, 'web')
  const count: number = (cached?.length ?? 0) + view.skills.length + view.shadowed.length
  const messages = skills.messageRouter({ cacheTtl: 60, thresholds: { skill: 0.6 } })
  const decision: RouteDecision = await messages.route('how is the Acme deal?', 'slack', orgId, null, { allowLlm: false })
  const best: RouteCandidate | undefined = decision.candidates[0]
  const rows: RoutingLogRow[] = await messages.log(orgId, { since: 60 })
  const evaluation: RouteEvaluation = await messages.evaluate('', orgId)
  const now: RouteDecision | null = messages.tryRoute('how is the Acme deal?', 'slack', orgId, null, { skipCache: true })
  const weighed: [string, number][] = evaluation.misses.flatMap((m) => m.candidates)
  const routed: number =
    messages.stats().routes + rows.length + evaluation.total + (best?.score ?? 0) + (now?.confidence ?? 0) + weighed.length

  const log = createLogger('consumer', { orgId, minLevel: 'info', debugSampleRate: 0.5 })
  log.info('started', { step: 1 })
  const span = log.createSpan('work')
  span.stop({ ok: true })
  const stats: LogStats = await log.flush()
  const parent: TraceParent | null = parseTraceparent(log.traceparent())
  const cleaned: Record<string, number> = await db.cleanupLogs({ dryRun: true, batchSize: 100 })
  const changes: PartitionChange[] = await db.maintainPartitions()
  const dropped: number = changes.filter((c) => c.action === 'dropped').reduce((n, c) => n + c.rows, 0)
  const sizes: number[] = (await db.partitions()).map((p: PartitionInfo) => p.estimatedRows + p.bytes)
  const codes: string[] = errorCodes()

  const llm = router.llm({ providers: { openai: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'x' } }, attemptTimeout: 1 })
  const controller = new AbortController()
  const answer = llm.complete(
    { feature: 'copilot', tier: 'low', orgId, messages: [{ role: 'user', content: 'hi' }], maxTokens: 64 },
    { signal: controller.signal },
  )
  const done: Completion | null = await answer.catch(() => null)
  let text = done?.text ?? ''
  try {
    for await (const event of await llm.stream({ feature: 'copilot', messages: [{ role: 'user', content: 'hi' }] })) {
      const e: StreamEvent = event
      if (e.event === 'delta' && e.type === 'text') text += e.text
    }
  } catch (err) {
    if (isKeelError(err)) text += String(err.attempts?.length ?? 0)
  }

  const summary: Summary | null = await llm.summarize({ text: 'a thread', feature: 'copilot' }).catch(() => null)
  const label: Classification | null = await llm
    .classify({ text: 'refund?', labels: ['billing', { name: 'sales', description: 'seats' }], provider: 'openai', model: 'm' })
    .catch(() => null)
  const embedded: Embeddings | null = await llm.embed({ texts: ['a'], dimensions: 8 }, { signal: controller.signal }).catch(() => null)
  text += `${summary?.text}${label?.confidence ?? ''}${embedded?.vectors[0]?.length ?? 0}`
  const tokens: number = countTokens('hello', 'cl100k_base') + (await countTokensAsync('hello'))
  const billed: TokenCount = countMessageTokens('gpt-4o', [{ role: 'user', content: 'hi' }])
  const viaClient: TokenCount = llm.countTokens('claude-haiku-4-5', [{ role: 'user', content: 'hi' }])
  text += `${tokens}${billed.exact}${viaClient.factor}`

  const letters = db.deadLetters()
  const letter: DeadLetter = await letters.enqueue({ agentName: 'deal-risk', orgId: 'system', errors: [{ message: 'HTTP 503', status: 503 }] })
  const worked: WorkReport = await letters.workOnce(async (replay) => (replay.retry > 1 ? 'accepted' : undefined), { batch: 10, leaseMs: 5000 })
  const kind: Classified = classifyFailure({ status: 429, retryAfter: '2' })
  text += `${letter.status}${worked.resolved}${kind.kind}${retryDelays({ retries: 2, seed: 1 }).delays[0]}`
  const dedup = db.dedup({ windowMs: 3_600_000, threshold: 0.85 })
  const checked: Checked[] = await dedup.enqueue([{ orgId: 'o', sourceAgent: 'a', itemType: 't', title: 'x' }])
  const again: Checked = await dedup.check(checked[0].id, { leaseToken: 1 })
  const scored: Scored = await dedup.score(again.id, 0.8)
  const group: DedupGroup | null = await dedup.group(again.id)
  const swept: DedupSweep = await dedup.sweep({ dryRun: true })
  const counts: Record<string, number> = await dedup.counts('o')
  const lsh = new MinHashLsh({ threshold: 0.8 })
  lsh.insert('a', minhash('Acme renewal at risk', { shingleWords: 2 }))
  const found: Similar[] = lsh.query(new MinHasher({ numPerm: 128 }).signature('acme renewal'))
  const bytes: Uint8Array = minhash('a b c').toBytes()
  const read: MinHash = MinHash.fromBytes(bytes)
  const values: Uint32Array = read.values
  text += `${read.numPerm}${read.seed.length}${read.shingleWords}${values.length}${read.equals(read)}`
  const merged: Merged = mergeReports([{ id: 'a', agent: 'x', context: {} }], { queuePriority: 2 })
  text += `${dedupKey({ orgId: 'o', itemType: 't' })}${scored.approved}${group?.members.length}${swept.checked}`
  text += `${counts.suppressed}${found[0]?.jaccard}${bytes.length}${merged.escalated.length}${lsh.confirmAt}`
  const fleet = db.fleet({ webhookUrl: 'https://hooks.slack.com/services/x', onAlert: async (alert: FleetAlert) => alert.message.text })
  const registered: FleetAgent = await fleet.setAgent({ agentName: 'crm-sync', schedule: '*/30 * * * *' })
  const health: FleetHealth = await fleet.check()
  const response: FleetHealthResponse = await fleet.checkFleetHealth()
  const fleetNow: FleetStatus = await fleet.status()
  const fleetReport: FleetReport = await fleet.report({ periodMs: 86_400_000 })
  const page: string = await fleet.reportHtml()
  const payload: SlackWebhookPayload = fleetAlertMessage({ agentName: 'a', kind: 'raised', status: 'critical', windowMs: 1, runs: 0, deadLetters: 0, at: 'now' })
  text += `${registered.cadenceMs}${health.totalAlertsFired}${response.total_alerts_fired}${fleetNow.summary.stale}${fleetReport.periodMs}${page.length}${payload.text}`
  void [inMemory, tier, viaOriginal, transition, granted, canProceed, moved, balance, settled, budget, limits]
  void [name, display, affinity, refused, compiled.contextHash, report.dryRun, first?.contextHash, count, stats.failedWrites, parent?.sampled, cleaned, dropped, sizes, codes, text, routed]
  await db.close()
}
