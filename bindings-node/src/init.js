// Run once per environment by init.rs with (exports, errorCodes, abortedMessage, sliceMs). See
// init.rs.
(function install(exports, codes, abortedMessage, sliceMs) {
  'use strict'
  const isKeelError = exports.isKeelError

  // `err instanceof KeelError` for every error Keel makes: an Error (a TypeError for
  // invalid_input) whose `code` is one of core's codes.
  class KeelError extends Error {
    static [Symbol.hasInstance](value) {
      return isKeelError(value)
    }
  }
  Object.defineProperty(KeelError, 'codes', { value: Object.freeze([...codes]) })
  exports.KeelError = KeelError

  // `{ signal }` as a call's last argument, or as a field of its options object: the signal,
  // taken out of the arguments (an options object keeps its other fields).
  const takeSignal = (args) => {
    const last = args[args.length - 1]
    let signal
    try {
      signal = last !== null && typeof last === 'object' ? last.signal : undefined
      if (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') return undefined
    } catch {
      return undefined // a hostile object (a throwing getter): the call's own checks report it
    }
    const { signal: _, ...rest } = last
    if (Object.keys(rest).length === 0) args.pop()
    else args[args.length - 1] = rest
    return signal
  }
  const abortError = (signal) => {
    const err = new Error(abortedMessage, { cause: signal.reason })
    return Object.assign(err, { name: 'AbortError', code: 'aborted' })
  }

  // A Promise a call returns rejects with the stack of the calls awaiting it, below the
  // error's own (which, made on the event loop, has no frames of the caller's): the stack is
  // taken in the rejection handler, where V8 follows the promise chain to the async functions
  // awaiting it, so a call that succeeds pays for one `.catch` and nothing else.
  const rejectionOf = (name) => {
    const onReject = (err) => {
      if (err instanceof Error) {
        const site = {}
        Error.captureStackTrace(site, onReject)
        const frames = typeof site.stack === 'string' ? site.stack.slice(site.stack.indexOf('\n')) : ''
        err.stack = `${err.stack}\n    at async ${name} (keelcore)${frames}`
      }
      throw err
    }
    return onReject
  }
  // With a signal, a call rejects with code `aborted` as soon as the signal aborts (nothing
  // starts if it already has; work already handed to the database may still complete).
  const abortable = (promise, signal) => {
    let onAbort
    const aborted = new Promise((_, reject) => {
      onAbort = () => reject(abortError(signal))
      signal.addEventListener('abort', onAbort, { once: true })
    })
    return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort))
  }
  // `transports: { provider: async (request) => replyBody }`: core gets the names and the
  // functions apart from the options. Each function's outcome reaches core as `{ reply }`, or
  // as `{ failure }` read from the SDK's error (its HTTP status, error body and Retry-After).
  // Installed before the tracing below, which wraps it (and restores it, not the native).
  // `obj[name]`, or undefined when reading it throws (a hostile getter, a proxy).
  const read = (obj, name) => {
    try {
      return obj?.[name]
    } catch {
      return undefined
    }
  }
  // What a thrown value says, or its type when it cannot be read.
  const printed = (value) => {
    try {
      return String(read(value, 'message') ?? value)
    } catch {
      return typeof value
    }
  }
  const header = (headers, name) => {
    let value
    try {
      value = typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]
    } catch {
      return undefined
    }
    if (typeof value === 'number' && Number.isFinite(value)) return String(value)
    return typeof value === 'string' ? value : undefined
  }
  const failureOf = (err) => {
    const status = read(err, 'status') ?? read(err, 'statusCode')
    const body = read(err, 'error') ?? read(err, 'body')
    const kind = read(err, 'kind')
    return {
      failure: {
        status: Number.isInteger(status) ? status : undefined,
        body: body !== null && typeof body === 'object' ? body : undefined,
        message: printed(err),
        retryAfter: header(read(err, 'headers'), 'retry-after'),
        kind: typeof kind === 'string' ? kind : undefined,
      },
    }
  }
  // The native `_startRun`, taken before the tracing below wraps it: `runAgent` calls it once
  // per run and reports its errors itself.
  const startRun = exports.Keel.prototype._startRun
  const hostTransport = (send) => async (request) => {
    try {
      return { reply: await send(request) }
    } catch (err) {
      return failureOf(err)
    }
  }
  const nativeLlm = exports.ModelRouter.prototype.llm
  // A client's transports by provider, for its calls driven on this event loop.
  const driven = new WeakMap()
  Object.defineProperty(exports.ModelRouter.prototype, 'llm', {
    value: function (options) {
      let split
      try {
        const transports = options?.transports
        if (transports !== null && typeof transports === 'object') {
          const { transports: _, ...rest } = options
          const names = Object.keys(transports)
          const sends = names.map((name) => (typeof transports[name] === 'function' ? hostTransport(transports[name]) : null))
          split = [rest, names, sends]
        }
      } catch {
        // A hostile object (a throwing getter, a proxy): the native call's own checks report it.
      }
      if (!split) return nativeLlm.call(this, options)
      const llm = nativeLlm.apply(this, split)
      driven.set(llm, Object.fromEntries(split[1].map((name, i) => [name, split[2][i]])))
      return llm
    },
    writable: true,
    configurable: true,
  })
  // `workOnce(handler, options)`: core gets the options first and the handler as a transport
  // (its answer as `{ reply }`, what it throws as `{ failure }`).
  const nativeWorkOnce = exports.DeadLetters.prototype.workOnce
  Object.defineProperty(exports.DeadLetters.prototype, 'workOnce', {
    value: function (handler, options) {
      return nativeWorkOnce.call(this, options, typeof handler === 'function' ? hostTransport(handler) : null)
    },
    writable: true,
    configurable: true,
  })
  // `ctx.step(name, work)`: core decides whether `work` runs; what `work` itself threw is
  // thrown again as it was.
  const nativeStep = exports.AgentContext.prototype.step
  Object.defineProperty(exports.AgentContext.prototype, 'step', {
    value: async function (name, work) {
      let raised
      const wrapped = async () => {
        try {
          return { reply: await work() }
        } catch (err) {
          raised = { err }
          return failureOf(err)
        }
      }
      try {
        return await nativeStep.call(this, name, typeof work === 'function' ? wrapped : null)
      } catch (err) {
        if (raised) throw raised.err
        throw err
      }
    },
    writable: true,
    configurable: true,
  })
  // `link: (kind, name) => id | null` (or a Promise of it) in the options of `addFacts`,
  // `extractFacts` and the threads' `extract` (their fourth argument) and `sweep` (its
  // second): core gets it apart from the options, as an async function of `{ kind, name }`.
  const linked = [
    [exports.ConversationStore, 'addFacts', 3],
    [exports.ConversationStore, 'extractFacts', 3],
    [exports.SlackThreads, 'extract', 3],
    [exports.SlackThreads, 'sweep', 1],
  ]
  for (const [klass, key, at] of linked) {
    const native = klass.prototype[key]
    Object.defineProperty(klass.prototype, key, {
      value: function (...args) {
        try {
          const options = args[at]
          if (options !== null && typeof options === 'object' && typeof options.link === 'function') {
            const { link, ...rest } = options
            args.length = at + 2
            args[at] = rest
            args[at + 1] = async ({ kind, name }) => link(kind, name)
          }
        } catch {
          // A hostile object (a throwing getter, a proxy): the native call's own checks report it.
        }
        return native.apply(this, args)
      },
      writable: true,
      configurable: true,
    })
  }
  // `skills.messageRouter(options, classifier, embedder)`: each an `Llm`, or an async
  // function of the platform's own models, which core gets apart as a transport.
  const nativeMessageRouter = exports.SkillRegistry.prototype.messageRouter
  Object.defineProperty(exports.SkillRegistry.prototype, 'messageRouter', {
    value: function (options, classifier, embedder) {
      const hosted = (model) => (typeof model === 'function' ? [null, hostTransport(model)] : [model, null])
      const [classifierLlm, classify] = hosted(classifier)
      const [embedderLlm, embed] = hosted(embedder)
      return nativeMessageRouter.call(this, options, classifierLlm, embedderLlm, classify, embed)
    },
    writable: true,
    configurable: true,
  })
  // `compact(orgId, id, llm, { summarizer, ...options })`: the platform's own summarizer, an
  // async function, goes to core apart from the options.
  const nativeCompact = exports.ConversationStore.prototype.compact
  Object.defineProperty(exports.ConversationStore.prototype, 'compact', {
    value: function (orgId, conversationId, llm, options) {
      let split
      try {
        if (options !== null && typeof options === 'object' && typeof options.summarizer === 'function') {
          const { summarizer, ...rest } = options
          split = [orgId, conversationId, llm, rest, hostTransport(summarizer)]
        }
      } catch {
        // A hostile object (a throwing getter, a proxy): the native call's own checks report it.
      }
      return split ? nativeCompact.apply(this, split) : nativeCompact.call(this, orgId, conversationId, llm, options)
    },
    writable: true,
    configurable: true,
  })
  // `db.fleet({ onAlert, ...options })`: core gets the options and the callback apart, the
  // callback as a transport (what it throws is a failed delivery attempt).
  const nativeFleet = exports.Keel.prototype.fleet
  Object.defineProperty(exports.Keel.prototype, 'fleet', {
    value: function (options) {
      let split
      try {
        // Not a function (and not null): left in the options, which core refuses by name.
        if (options !== null && typeof options === 'object' && (typeof options.onAlert === 'function' || options.onAlert == null)) {
          const { onAlert, ...rest } = options
          split = [rest, onAlert == null ? null : hostTransport(onAlert)]
        }
      } catch {
        // A hostile object (a throwing getter, a proxy): the native call's own checks report it.
      }
      return split ? nativeFleet.apply(this, split) : nativeFleet.call(this, options)
    },
    writable: true,
    configurable: true,
  })
  // The host application's OpenTelemetry context, read through the API's global registry (no
  // import: it is there when the host registered an SDK). A logger or a model call gets the
  // host's current span as `hostTraceparent`, written by the host's own propagator; core
  // decides whether it is joined. `otelContext(span)` goes the other way.
  const otelApi = () => globalThis[Symbol.for('opentelemetry.js.api.1')]
  const carrierSetter = { set: (carrier, key, value) => (carrier[key] = value) }
  const carrierGetter = { get: (carrier, key) => carrier[key], keys: (carrier) => Object.keys(carrier) }
  const hostTraceparent = () => {
    const api = otelApi()
    if (!api?.propagation || !api.context) return undefined
    try {
      const carrier = {}
      api.propagation.inject(api.context.active(), carrier, carrierSetter)
      return typeof carrier.traceparent === 'string' ? carrier.traceparent : undefined
    } catch {
      return undefined // the host's propagator failed: Keel's spans start a trace of their own
    }
  }
  const withHost = (options) => {
    const host = hostTraceparent()
    if (host === undefined || (options !== undefined && (options === null || typeof options !== 'object'))) return options
    return { ...options, hostTraceparent: host }
  }
  exports.otelContext = function otelContext(span) {
    if (!(span instanceof Span) && !(span instanceof exports.Logger)) {
      const err = new TypeError(`span: expected a Keel Span or Logger, got ${span === null ? 'null' : typeof span}`)
      throw Object.assign(err, { code: 'invalid_input', field: 'span' })
    }
    const api = otelApi()
    if (!api?.propagation || !api.context) return undefined
    return api.propagation.extract(api.context.active(), { traceparent: span.traceparent() }, carrierGetter)
  }
  // Installed before the tracing below, which wraps them (and restores them, not the natives).
  const nativeCreateLogger = exports.createLogger
  exports.createLogger = function createLogger(service, options) {
    return nativeCreateLogger.call(this, service, withHost(options))
  }
  const nativeKeelLogger = exports.Keel.prototype.createLogger
  Object.defineProperty(exports.Keel.prototype, 'createLogger', {
    value: function createLogger(service, options) {
      return nativeKeelLogger.call(this, service, withHost(options))
    },
    writable: true,
    configurable: true,
  })

  // A span is a JavaScript object holding the number of a span core keeps
  // (`telemetry::spans`): no native object is wrapped per span. Once the object is collected,
  // core lets go of the span (one never stopped is then written as failed).
  const { _spanId, _spanParentId, _spanStopped, _spanTraceparent, _spanStop, _spanFail, _spanChild, _spanDrop } = exports
  const collected = new FinalizationRegistry(_spanDrop)
  class Span {
    #handle
    constructor(handle) {
      this.#handle = handle
      collected.register(this, handle)
    }
    /** The span id. */
    get spanId() {
      return _spanId(this.#handle)
    }
    /** The parent span's id, or null for a root span. */
    get parentSpanId() {
      return _spanParentId(this.#handle)
    }
    /** True once `stop` or `fail` ran. */
    get stopped() {
      return _spanStopped(this.#handle)
    }
    /** A W3C `traceparent` naming this span. */
    traceparent() {
      return _spanTraceparent(this.#handle)
    }
    /** Stops as ok, merging `extra` into the metadata; false if already stopped. */
    stop(extra) {
      return _spanStop(this.#handle, extra)
    }
    /** Stops as failed with the error's message. */
    fail(err, extra) {
      return _spanFail(this.#handle, err, extra)
    }
    /** Starts a child span. */
    child(action, metadata) {
      return new Span(_spanChild(this.#handle, action, metadata))
    }
  }
  exports.Span = Span
  Object.defineProperty(exports.Logger.prototype, 'createSpan', {
    value: function createSpan(action, metadata, parentSpanId) {
      // An object's JSON text is made here, where `JSON.stringify` is one engine call; what it
      // cannot take (a cycle, a BigInt) goes to the native walk.
      if (metadata !== null && typeof metadata === 'object') {
        let json
        try {
          json = JSON.stringify(metadata)
        } catch {}
        if (typeof json === 'string') return new Span(this._startSpanJson(action, json, parentSpanId))
      }
      return new Span(this._startSpan(action, metadata, parentSpanId))
    },
    writable: true,
    configurable: true,
  })

  // A decision's fields are getters: each converts the one field read, where a whole object
  // would convert the candidates and their evidence on every route. A cache hit answers with
  // an object holding its own traceId, durationMs and cached over the cached decision's shared
  // RouteDecision (its prototype), which the getters and toJSON read.
  const decisionOf = (answer) => (Object.hasOwn(answer, 'traceId') ? Object.getPrototypeOf(answer) : answer)
  for (const name of exports.RouteDecision._fields()) {
    Object.defineProperty(exports.RouteDecision.prototype, name, {
      get() {
        return decisionOf(this)._field(name)
      },
      enumerable: true,
      configurable: true,
    })
  }
  const decisionJson = exports.RouteDecision.prototype.toJSON
  Object.defineProperty(exports.RouteDecision.prototype, 'toJSON', {
    value() {
      const json = decisionJson.call(decisionOf(this))
      json.traceId = this.traceId
      json.durationMs = this.durationMs
      json.cached = this.cached
      return json
    },
    writable: true,
    configurable: true,
  })

  const traced = (native, onSync) => {
    const onReject = rejectionOf(native.name)
    const wrapper = function (...args) {
      const signal = takeSignal(args)
      if (signal?.aborted) return Promise.reject(abortError(signal))
      const result = native.apply(this, args)
      if (!(result instanceof Promise)) {
        if (onSync && !signal) onSync()
        return result
      }
      return (signal ? abortable(result, signal) : result).catch(onReject)
    }
    Object.defineProperty(wrapper, 'name', { value: native.name })
    return wrapper
  }
  // Synchronous functions that never take a signal are left as they are.
  const untraced = new Set(['isKeelError', 'otelContext', 'Span', 'minhash'])
  for (const name of Object.keys(exports)) {
    const value = exports[name]
    if (typeof value !== 'function' || untraced.has(name) || name.startsWith('_')) continue
    if (/^[A-Z]/.test(name)) {
      const proto = value.prototype
      if (!proto) continue
      for (const key of Object.getOwnPropertyNames(proto)) {
        const descriptor = Object.getOwnPropertyDescriptor(proto, key)
        if (key === 'constructor' || typeof descriptor.value !== 'function') continue
        // A method that answers synchronously goes back to the native function after its
        // first answer, so it pays nothing for this.
        const restore = () => Object.defineProperty(proto, key, descriptor)
        Object.defineProperty(proto, key, { ...descriptor, value: traced(descriptor.value, restore) })
      }
    } else {
      exports[name] = traced(value, null)
    }
  }

  // `runAgent(config, executor, { llm, signal })` drives core's run on this event loop: core
  // decides (attempt, time limit, wait, end), this awaits the executor, sleeps and tells core
  // what happened. An aborted signal cancels the run (recorded so) and rejects with an
  // `AbortError`, as every call with a signal does.
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const timedOut = Symbol('timed out')
  const attempt = async (run, executor, ctx, ms) => {
    let timer
    try {
      const limit = new Promise((resolve) => {
        timer = setTimeout(() => resolve(timedOut), ms)
      })
      const value = await Promise.race([executor(ctx), limit])
      if (value === timedOut) run.timedOut()
      else run.succeeded(value)
    } catch (err) {
      run.failed(failureOf(err).failure)
    } finally {
      clearTimeout(timer)
    }
  }
  const drive = async (run, executor, signal) => {
    for (;;) {
      if (signal?.aborted) {
        run.cancel()
        throw abortError(signal)
      }
      switch (run.next()) {
        case 'attempt':
          await attempt(run, executor, run.context(), run.ms())
          break
        case 'wait':
          await sleep(run.ms())
          break
        case 'claim':
          await run.claim()
          break
        case 'finish':
          await run.finish()
          break
        default:
          return run.result()
      }
    }
  }
  Object.defineProperty(exports.Keel.prototype, 'runAgent', {
    value: async function runAgent(config, executor, options) {
      let llm, signal
      try {
        llm = options?.llm ?? undefined
        signal = options?.signal
        if (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') signal = undefined
      } catch {
        signal = undefined // a hostile object: the native call's own checks report it
      }
      let token
      if (signal) {
        token = new exports._CancelToken()
        signal.addEventListener('abort', () => token.cancel(), { once: true })
      }
      const run = startRun.call(this, config, typeof executor === 'function', llm, token)
      if (!signal) return drive(run, executor)
      // An abort stops waiting at once; core ends the attempt in flight as cancelled.
      let onAbort
      const aborted = new Promise((_, reject) => {
        onAbort = () => {
          run.cancel()
          reject(abortError(signal))
        }
        signal.addEventListener('abort', onAbort, { once: true })
      })
      return Promise.race([drive(run, executor, signal), aborted]).finally(() => signal.removeEventListener('abort', onAbort))
    },
    writable: true,
    configurable: true,
  })
  // `queue.work(handler, { signal, ...options })` runs a worker on this event loop: core's
  // session decides what to claim, when to wait and what each answer means, and writes the
  // outcomes; this runs the handlers it hands out and tells it how each ended. An aborted
  // signal stops claiming: the running handlers finish, their outcomes are written, and the
  // promise resolves with the report.
  Object.defineProperty(exports.Queue.prototype, 'work', {
    value: async function work(handler, options) {
      let signal, rest
      try {
        ;({ signal, ...rest } = options ?? {})
        if (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') signal = undefined
      } catch {
        signal = undefined // a hostile object: the native call's own checks report it
        rest = options
      }
      const session = this._session(rest)
      const one = async (item) => {
        try {
          session.settle(item.id, item.leaseToken, (await handler(item)) ?? null)
        } catch (err) {
          session.settle(item.id, item.leaseToken, null, String(err?.message ?? err) || 'the handler failed')
        }
      }
      const onAbort = () => session.stop()
      if (signal?.aborted) session.stop()
      signal?.addEventListener('abort', onAbort, { once: true })
      try {
        for (;;) {
          const items = await session.next()
          if (items === null) return session.report()
          for (const item of items) one(item)
        }
      } finally {
        signal?.removeEventListener('abort', onAbort)
      }
    },
    writable: true,
    configurable: true,
  })
  // A cached view comes back without a trip through the wrapper above: `cached` (a function of
  // each registry, fast.rs) answers from the cache or says there is nothing there, and only
  // then does the call go the native way, with its signal and its caller's stack. Arguments
  // `cached` refuses go that way too, so they reject as every other error of the method does.
  const viaNative = exports.SkillRegistry.prototype.resolveSkills
  Object.defineProperty(exports.SkillRegistry.prototype, 'resolveSkills', {
    value: function resolveSkills(orgId, channel) {
      let view = null
      try {
        view = arguments.length === 2 ? this.cached(orgId, channel) : null
      } catch {}
      return view === null ? viaNative.apply(this, arguments) : Promise.resolve(view)
    },
    writable: true,
    configurable: true,
  })

  // The same for a route: `tryRoute` answers a cache hit, or any route whose stages need no
  // waiting, at once. A call with a signal, one `tryRoute` refuses and one that would wait go
  // the native way, so they are cancelled, reject and wait as every other call does.
  const routeViaNative = exports.MessageRouter.prototype.route
  Object.defineProperty(exports.MessageRouter.prototype, 'route', {
    value: function route(message, channel, orgId, userId, options) {
      let decision = null
      try {
        if (arguments.length <= 4 || options?.signal === undefined) decision = this.tryRoute(...arguments)
      } catch {}
      return decision === null ? routeViaNative.apply(this, arguments) : Promise.resolve(decision)
    },
    writable: true,
    configurable: true,
  })

  // A call through a client's transports, driven here (core: `keel::llm::DrivenCall`): core
  // plans each attempt and reads each answer; this awaits the transport within the attempt's
  // time, or `call.wait()` for a step on Keel's side. No thread is woken for an attempt a
  // transport sends.
  const driveCall = async (call, sends) => {
    for (;;) {
      const request = call.transportRequest()
      let done
      if (request === null) {
        done = await call.wait()
      } else {
        let timer
        const limit = new Promise((resolve) => {
          timer = setTimeout(() => resolve(timedOut), call.timeoutMs())
        })
        const outcome = await Promise.race([sends[request.provider](request), limit])
        clearTimeout(timer)
        done = outcome === timedOut ? call.timedOut() : call.settle(outcome)
      }
      if (done !== null) return done
    }
  }
  // `complete` through a client with transports: driven here when core hands the call back.
  const drivenComplete = (llm, request, signal) => {
    const sends = driven.get(llm)
    if (sends === undefined) return undefined
    let call
    try {
      call = llm._drive(request)
    } catch (err) {
      return Promise.reject(err)
    }
    if (call === null) return undefined
    return signal ? abortable(driveCall(call, sends), signal) : driveCall(call, sends)
  }

  // A model call with `{ signal }` is cancelled in core when the signal aborts: the HTTP
  // request ends and the call's credits are released (the wrapper above only stops waiting).
  for (const name of ['complete', 'stream', 'summarize', 'classify', 'embed']) {
    const native = exports.Llm.prototype[name]
    Object.defineProperty(exports.Llm.prototype, name, {
      value: function (request, options) {
        let signal
        try {
          signal = options?.signal
          if (typeof signal?.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') signal = undefined
        } catch {
          signal = undefined // a hostile object (a throwing getter): the call's own checks report it
        }
        request = withHost(request)
        if (name === 'complete') {
          const done = drivenComplete(this, request, signal)
          if (done !== undefined) return done
        }
        if (!signal) return native.call(this, request)
        const token = new exports._CancelToken()
        if (signal.aborted) token.cancel()
        signal.addEventListener('abort', () => token.cancel(), { once: true })
        // The traced wrapper takes `{ signal }` off the end (and rejects as soon as it aborts).
        return native.call(this, request, token, { signal })
      },
      writable: true,
      configurable: true,
    })
  }
  // Streams share the event loop's turns. A stream's burst (every event it has buffered), and
  // a thousand streams' bursts can land in one turn, would otherwise be handed over in
  // microtasks, holding timers and I/O for as long as the consumers take over all of them.
  // Once the streams have spent a slice of a turn on events (core's `HANDOVER_SLICE`), the
  // next event waits for a later turn (`setImmediate`).
  const nextTurn = globalThis.setImmediate ?? ((resolve) => setTimeout(resolve, 0))
  let sliceStarted = 0
  let inSlice = false
  const endSlice = () => {
    inSlice = false
  }
  const sliceSpent = () => {
    const now = performance.now()
    if (!inSlice) {
      inSlice = true
      sliceStarted = now
      nextTurn(endSlice)
    }
    return now - sliceStarted > sliceMs
  }

  // `for await (const event of stream)`; leaving the loop early stops the call.
  Object.defineProperty(exports.CallStream.prototype, Symbol.asyncIterator, {
    value: async function* () {
      try {
        for (;;) {
          const events = await this.next()
          if (events === null) return
          for (const event of JSON.parse(events)) {
            if (sliceSpent()) await new Promise((resolve) => nextTurn(resolve))
            yield event
          }
        }
      } finally {
        this.close()
      }
    },
  })

  // `await using db = await connect()` closes the handle; a logger flushes.
  const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
  Object.defineProperty(exports.Keel.prototype, asyncDispose, {
    value: function () {
      return this.close()
    },
  })
  Object.defineProperty(exports.Logger.prototype, asyncDispose, {
    value: async function () {
      await this.flush()
    },
  })
})
