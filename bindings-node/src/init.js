// Run once per environment by init.rs with (exports, errorCodes, abortedMessage). See init.rs.
(function install(exports, codes, abortedMessage) {
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
  const header = (headers, name) => {
    if (typeof headers?.get === 'function') return headers.get(name) ?? undefined
    return headers?.[name] ?? undefined
  }
  const hostTransport = (send) => async (request) => {
    try {
      return { reply: await send(request) }
    } catch (err) {
      const status = err?.status ?? err?.statusCode
      const body = err?.error ?? err?.body
      return {
        failure: {
          status: Number.isInteger(status) ? status : undefined,
          body: body !== null && typeof body === 'object' ? body : undefined,
          message: String(err?.message ?? err),
          retryAfter: header(err?.headers, 'retry-after'),
        },
      }
    }
  }
  const nativeLlm = exports.ModelRouter.prototype.llm
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
      return split ? nativeLlm.apply(this, split) : nativeLlm.call(this, options)
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
  for (const name of Object.keys(exports)) {
    const value = exports[name]
    if (typeof value !== 'function' || name === 'isKeelError' || name.startsWith('_')) continue
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
  // `for await (const event of stream)`; leaving the loop early stops the call.
  Object.defineProperty(exports.CallStream.prototype, Symbol.asyncIterator, {
    value: async function* () {
      try {
        for (;;) {
          const events = await this.next()
          if (events === null) return
          yield* JSON.parse(events)
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
