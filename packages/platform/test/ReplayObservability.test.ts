/**
 * Spans and metrics of followers, connections and producers, and the
 * `/metrics` endpoint, on real servers (127.0.0.1) with a recording tracer.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { ReplayBuffer, ReplayBufferError, ReplayMetrics, ReplayRegistry } from "@scrollback/core"
import { Clients, Portable, type Suites, Tracing } from "@scrollback/http-test-kit"
import { ReplayClient, ReplayHttp, ReplayHttpError, ReplaySink, ReplayStream } from "@scrollback/platform"
import { Effect, Exit, Fiber, Metric, Option, Stream } from "effect"

const followersOf = (transport: ReplayMetrics.FollowerTransport) =>
  Effect.map(Metric.value(Metric.tagged(ReplayMetrics.activeFollowers, "transport", transport)), (s) => s.value)

const gapsOf = (transport: ReplayMetrics.FollowerTransport) =>
  Effect.map(Metric.value(Metric.tagged(ReplayMetrics.gaps, "transport", transport)), (s) => s.count)

/** Waits (yielding, then sleeping) until `condition` holds: a bound for "eventually", never a timing assumption. */
const eventually = (what: string, condition: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 3000; i++) {
      if (condition()) return
      yield* i < 100 ? Effect.yieldNow() : Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`timed out waiting until ${what}`)
  })

const only = (recorder: Tracing.Recorder, name: string): Tracing.RecordedSpan => {
  const spans = recorder.named(name)
  assert.strictEqual(spans.length, 1, `one ${name} span, got ${spans.length}`)
  return spans[0]
}

const ended = (span: Tracing.RecordedSpan) => span.attributes.get("scrollback.end")

describe("ReplayStream follower spans", () => {
  it.effect("start, gaps and a normal end: attributes, one event per gap, the caller's span as parent", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const buffer = yield* ReplayBuffer.make({ capacity: 4 })
      yield* buffer.write(Clients.bytes("0123456789"))
      yield* buffer.end
      const before = yield* gapsOf("stream")
      const out = yield* ReplayStream.follow(buffer, { from: 0, onEvicted: "clamp" }).pipe(
        Stream.runCollect,
        Effect.withSpan("caller"),
        Effect.withTracer(recorder.tracer)
      )
      assert.strictEqual(new TextDecoder().decode(Buffer.concat(Array.from(out))), "6789")
      assert.strictEqual((yield* gapsOf("stream")) - before, 1)
      const span = only(recorder, "ReplayStream.follow")
      const caller = only(recorder, "caller")
      assert.isTrue(Option.isSome(span.parent) && span.parent.value === caller)
      const epoch = buffer.epoch
      assert.deepStrictEqual(Object.fromEntries(span.attributes), {
        "scrollback.transport": "stream",
        "scrollback.epoch": epoch,
        "scrollback.from": "0",
        "scrollback.start": `${epoch}:0`,
        "scrollback.oldest": 6,
        "scrollback.total": 10,
        "scrollback.on_evicted": "clamp",
        "scrollback.end": "ended",
        "scrollback.position": `${epoch}:10`,
        "scrollback.gaps": 1
      })
      assert.deepStrictEqual(span.events, [{
        name: "scrollback.gap",
        attributes: { "scrollback.requested": 0, "scrollback.oldest": 6 }
      }])
      assert.isTrue(span.ended && Exit.isSuccess(span.exit!))
    }))

  it.effect("failed, evicted and interrupted followers: every span ends, with how; the follower count returns", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const followers = yield* followersOf("stream")
      yield* Effect.gen(function*() {
        // failed: the producer's failure
        const failing = yield* ReplayBuffer.make()
        yield* failing.fail(new ReplayBufferError.ProducerFailed({ reason: "boom", exitCode: 2 }))
        assert.isTrue(Exit.isFailure(yield* Effect.exit(Stream.runDrain(ReplayStream.frames(failing)))))

        // evicted: a follower under "fail" lapped between two pulls
        const small = yield* ReplayBuffer.make({ capacity: 4 })
        yield* small.write(Clients.bytes("ab"))
        const evicted = yield* Effect.scoped(Effect.gen(function*() {
          const pull = yield* Stream.toPull(ReplayStream.follow(small, { from: "oldest" }))
          yield* pull
          yield* small.write(Clients.bytes("cdefghij"))
          return yield* Effect.exit(pull)
        }))
        assert.isTrue(Exit.isFailure(evicted))

        // interrupted: a caught-up follower waiting for bytes
        const idle = yield* ReplayBuffer.make()
        const fiber = yield* Effect.fork(Stream.runDrain(ReplayStream.follow(idle, { from: "live" })))
        yield* eventually("the idle follower started", () => recorder.named("ReplayStream.follow").length === 2)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.withTracer(recorder.tracer))
      const [evicted, interrupted] = recorder.named("ReplayStream.follow")
      const failed = only(recorder, "ReplayStream.frames")
      for (const span of [failed, evicted, interrupted]) assert.isTrue(span.ended, `${span.name} ended`)
      assert.strictEqual(ended(failed), "failed")
      assert.isTrue(Exit.isFailure(failed.exit!))
      assert.strictEqual(ended(evicted), "evicted")
      assert.strictEqual(evicted.attributes.get("scrollback.on_evicted"), "fail")
      assert.strictEqual(ended(interrupted), "interrupted")
      assert.isTrue(Exit.isInterrupted(interrupted.exit!))
      assert.strictEqual(interrupted.attributes.get("scrollback.from"), "live")
      assert.strictEqual(yield* followersOf("stream"), followers)
    }))
})

describe("producer and client spans", () => {
  it.effect("ReplaySink.write: one span for the run, ended with it", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const buffer = yield* ReplayBuffer.make()
      yield* Stream.make(Clients.bytes("a"), Clients.bytes("b")).pipe(
        ReplaySink.write(buffer),
        Effect.withTracer(recorder.tracer)
      )
      const span = only(recorder, "ReplaySink.write")
      assert.isTrue(span.ended && Exit.isSuccess(span.exit!))
      assert.strictEqual(span.attributes.get("scrollback.epoch"), buffer.epoch)
      // Taking the writer lease is a child of the run.
      const acquire = only(recorder, "ReplayBuffer.acquireWriter")
      assert.isTrue(Option.isSome(acquire.parent) && acquire.parent.value === span)
    }))

  it.scopedLive("ReplayClient: one span per connection attempt, with what it asked for", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const server = yield* Portable.serve()
      const buffer = yield* server.create("client")
      yield* buffer.write(Clients.bytes("hello"))
      yield* buffer.end
      const got = yield* ReplayClient.follow(`${server.base}/scrollback/client`).pipe(
        Stream.runCollect,
        Effect.withTracer(recorder.tracer),
        Effect.provide(FetchHttpClient.layer)
      )
      assert.strictEqual(Array.from(got).reduce((n, chunk) => n + chunk.length, 0), 5)
      const span = only(recorder, "ReplayClient.connect")
      assert.isTrue(span.ended)
      assert.strictEqual(span.kind, "client")
      assert.strictEqual(span.attributes.get("scrollback.url"), `${server.base}/scrollback/client/sse`)
      assert.strictEqual(span.attributes.get("scrollback.transport"), "sse")
      assert.strictEqual(span.attributes.get("scrollback.attempt"), 1)
      assert.strictEqual(span.attributes.get("scrollback.request"), "oldest")
    }))
})

/** A server whose request fibers trace with `recorder`. */
const tracedServer = (recorder: Tracing.Recorder) => Effect.withTracer(Portable.serve(), recorder.tracer)

describe("HTTP connection spans (portable routes)", () => {
  it.scopedLive("SSE: resume position, key, a normal end; a client that leaves ends its span too", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const server: Suites.TestServer = yield* tracedServer(recorder)
      const buffer = yield* server.create("traced")
      yield* buffer.write(Clients.bytes("abcdef"))
      const before = yield* followersOf("sse")
      const url = `${server.base}/scrollback/traced/sse`
      const conn = yield* Clients.sse(url, { "last-event-id": `${buffer.epoch}:2` })
      yield* Clients.nextEvent(conn) // hello
      yield* Clients.nextEvent(conn) // "cdef"
      assert.strictEqual(yield* followersOf("sse"), before + 1)
      yield* buffer.end
      assert.strictEqual((yield* Clients.nextEvent(conn)).event, "end")
      yield* eventually("the SSE span ended", () => recorder.named("ReplayHttp.sse").every((span) => span.ended))
      const span = only(recorder, "ReplayHttp.sse")
      assert.strictEqual(span.kind, "server")
      assert.strictEqual(span.attributes.get("scrollback.key"), "traced")
      assert.strictEqual(span.attributes.get("scrollback.transport"), "sse")
      assert.strictEqual(span.attributes.get("scrollback.from"), `${buffer.epoch}:2`)
      assert.strictEqual(span.attributes.get("scrollback.start"), `${buffer.epoch}:2`)
      assert.strictEqual(ended(span), "ended")
      assert.strictEqual(span.attributes.get("scrollback.position"), `${buffer.epoch}:6`)

      // A client that goes away while caught up.
      const live = yield* server.create("left")
      const gone = yield* Clients.sse(`${server.base}/scrollback/left/sse?offset=0`)
      yield* Clients.nextEvent(gone)
      yield* eventually("the second SSE span started", () => recorder.named("ReplayHttp.sse").length === 2)
      yield* gone.close
      yield* eventually("the abandoned SSE span ended", () => recorder.named("ReplayHttp.sse")[1].ended)
      const left = recorder.named("ReplayHttp.sse")[1]
      assert.strictEqual(ended(left), "interrupted")
      assert.strictEqual(left.attributes.get("scrollback.from"), "0")
      yield* live.end
      assert.strictEqual(yield* followersOf("sse"), before)
    }))

  it.scopedLive("WebSocket: a gap under clamp is an event and a metric; the end is recorded", () =>
    Effect.gen(function*() {
      const recorder = Tracing.makeRecorder()
      const server = yield* tracedServer(recorder)
      const buffer = yield* server.create("ws-traced", 8)
      yield* buffer.write(Clients.bytes("0123456789ab"))
      yield* buffer.end
      const gaps = yield* gapsOf("ws")
      const conn = yield* Clients.ws(server.port, "/scrollback/ws-traced/ws?offset=0&onEvicted=clamp")
      const collected = yield* Clients.collectWs(conn)
      assert.isDefined(collected)
      yield* eventually("the WebSocket span ended", () => recorder.named("ReplayHttp.ws").every((span) => span.ended))
      const span = only(recorder, "ReplayHttp.ws")
      assert.strictEqual(ended(span), "ended")
      assert.strictEqual(span.attributes.get("scrollback.gaps"), 1)
      assert.deepStrictEqual(span.events.map((event) => event.name), ["scrollback.gap"])
      assert.strictEqual((yield* gapsOf("ws")) - gaps, 1)
    }))
})

// -----------------------------------------------------------------------------
// /metrics
// -----------------------------------------------------------------------------

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

interface Scrape {
  readonly types: Map<string, string>
  readonly samples: Array<Sample>
  readonly value: (name: string, labels?: Record<string, string>) => number | undefined
}

/** A parser of the text format (0.0.4) for the tests: TYPE lines, samples, escaped label values. */
const parseText = (text: string): Scrape => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    if (line.startsWith("#")) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
      if (type !== null) types.set(type[1], type[2])
      else if (!line.startsWith("# HELP ")) throw new Error(`unexpected comment: ${line}`)
      continue
    }
    const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)
    if (head === null) throw new Error(`bad sample: ${line}`)
    let i = head[1].length
    const labels: Record<string, string> = {}
    if (line[i] === "{") {
      i++
      while (line[i] !== "}") {
        const name = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i))
        if (name === null) throw new Error(`bad label at ${i}: ${line}`)
        i += name[0].length
        let value = ""
        while (line[i] !== "\"") {
          if (line[i] === "\\") {
            const escaped = line[i + 1]
            value += escaped === "n" ? "\n" : escaped
            i += 2
          } else {
            value += line[i++]
          }
        }
        i++
        labels[name[1]] = value
        if (line[i] === ",") i++
      }
      i++
    }
    const rest = line.slice(i)
    if (!/^ \S+$/.test(rest)) throw new Error(`bad value: ${line}`)
    const raw = rest.slice(1)
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw)
    samples.push({ name: head[1], labels, value })
  }
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v)
  return {
    types,
    samples,
    value: (name, labels = {}) => samples.find((s) => s.name === name && same(s.labels, labels))?.value
  }
}

const scrape = (url: string, headers: Record<string, string> = {}) =>
  Effect.map(Clients.request(url, { headers }), (result) => ({
    status: result.status,
    contentType: result.headers["content-type"],
    scrape: result.status === 200 ? parseText(new TextDecoder().decode(result.body)) : undefined,
    body: result.body
  }))

describe("/metrics", () => {
  it.scopedLive("off by default: 404", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve()
      const result = yield* Clients.request(`${server.base}/metrics`)
      assert.strictEqual(result.status, 404)
      assert.strictEqual(Clients.json(result).error._tag, "NotFound")
    }))

  it.scopedLive("on: under Authorization (transport \"metrics\", no key); the scrape matches what happened", () =>
    Effect.gen(function*() {
      const asked: Array<ReplayHttp.AuthorizationRequest> = []
      const server = yield* Portable.serve({
        http: { metrics: true, maxConnectionsPerBuffer: 2 },
        authorization: {
          authorize: (request) => {
            asked.push(request)
            return request.transport !== "metrics" || request.headers["authorization"] === "Bearer ops"
              ? Effect.void
              : Effect.fail(new ReplayHttpError.Denied({ status: 401, message: "ops only" }))
          }
        }
      })
      const url = `${server.base}/metrics`
      const ops = { authorization: "Bearer ops" }
      const denied = yield* Clients.request(url)
      assert.strictEqual(denied.status, 401)
      assert.deepStrictEqual(
        asked.map(({ key, transport }) => ({ key, transport })),
        [{ key: undefined, transport: "metrics" }]
      )
      assert.strictEqual((yield* Clients.request(url, { method: "POST", headers: ops })).status, 405)

      const first = (yield* scrape(url, ops)).scrape!
      const sseFollowers = first.value("scrollback_followers_active", { transport: "sse" }) ?? 0
      const sseGaps = first.value("scrollback_gaps_total", { transport: "sse" }) ?? 0
      const refused = first.value("scrollback_connections_refused_total", { transport: "sse", limit: "buffer" }) ?? 0
      const written = first.value("scrollback_bytes_written_total")!

      const buffer = yield* server.create("scraped", 16)
      yield* buffer.write(Clients.bytes("0123456789"))
      yield* buffer.writeAll([Clients.bytes("abcdefgh"), Clients.bytes("ij")]) // 20 written, 4 evicted, 16 retained
      // Two followers: one from the oldest byte, one clamped from 0 (a gap); a third is refused (per-buffer limit).
      const a = yield* Clients.sse(`${server.base}/scrollback/scraped/sse`)
      yield* Clients.nextEvent(a)
      const b = yield* Clients.sse(`${server.base}/scrollback/scraped/sse?offset=0&onEvicted=clamp`)
      yield* Clients.nextEvent(b)
      yield* Clients.nextEvent(b) // the gap
      const c = yield* Clients.sse(`${server.base}/scrollback/scraped/sse`)
      assert.strictEqual(c.status, 429)

      const result = yield* scrape(url, ops)
      assert.strictEqual(result.status, 200)
      assert.strictEqual(result.contentType, "text/plain; version=0.0.4; charset=utf-8")
      const now = result.scrape!
      assert.strictEqual(now.types.get("scrollback_bytes_written_total"), "counter")
      assert.strictEqual(now.types.get("scrollback_followers_active"), "gauge")
      assert.strictEqual(now.types.get("scrollback_follower_lag_bytes"), "histogram")
      assert.strictEqual(now.value("scrollback_buffer_bytes_written_total", { key: "scraped" }), 20)
      assert.strictEqual(now.value("scrollback_buffer_bytes_evicted_total", { key: "scraped" }), 4)
      assert.strictEqual(now.value("scrollback_buffer_retained_bytes", { key: "scraped" }), 16)
      assert.strictEqual(now.value("scrollback_buffer_followers", { key: "scraped" }), 2)
      assert.strictEqual(now.value("scrollback_followers_active", { transport: "sse" }), sseFollowers + 2)
      assert.strictEqual(now.value("scrollback_gaps_total", { transport: "sse" }), sseGaps + 1)
      assert.strictEqual(
        now.value("scrollback_connections_refused_total", { transport: "sse", limit: "buffer" }),
        refused + 1
      )
      assert.isAtLeast(now.value("scrollback_bytes_written_total")! - written, 20)
      // A histogram's buckets are cumulative and end at +Inf = _count.
      const buckets = now.samples.filter((s) => s.name === "scrollback_follower_lag_bytes_bucket")
      assert.isAbove(buckets.length, 1)
      for (let i = 1; i < buckets.length; i++) assert.isAtLeast(buckets[i].value, buckets[i - 1].value)
      assert.strictEqual(buckets[buckets.length - 1].labels.le, "+Inf")
      assert.strictEqual(buckets[buckets.length - 1].value, now.value("scrollback_follower_lag_bytes_count"))

      // Once the followers have gone, the gauges say so.
      yield* a.close
      yield* b.close
      let after = (yield* scrape(url, ops)).scrape!
      for (let i = 0; after.value("scrollback_buffer_followers", { key: "scraped" }) !== 0; i++) {
        if (i === 1000) return yield* Effect.dieMessage("the followers never stopped")
        yield* Effect.sleep("10 millis")
        after = (yield* scrape(url, ops)).scrape!
      }
      assert.strictEqual(after.value("scrollback_followers_active", { transport: "sse" }), sseFollowers)
    }))

  it.scopedLive("a path of its own; a bad metrics option is refused", () =>
    Effect.gen(function*() {
      const server = yield* Portable.serve({ http: { metrics: "/ops/metrics" } })
      assert.strictEqual((yield* Clients.request(`${server.base}/metrics`)).status, 404)
      const result = yield* scrape(`${server.base}/ops/metrics`)
      assert.strictEqual(result.status, 200)
      assert.isDefined(result.scrape!.types.get("scrollback_registry_buffers"))
      for (const metrics of ["metrics", "/trailing/", "/scrollback", 3]) {
        const error = yield* Effect.flip(ReplayHttp.make({ metrics: metrics as any }))
        assert.strictEqual(error._tag, "InvalidHttpOptions")
        assert.strictEqual(error.option, "metrics")
      }
    }))
})

describe("the text format", () => {
  it.effect("escapes label values and help, names invalid characters away, and parses back", () =>
    Effect.gen(function*() {
      const name = `test.metric-${Math.random().toString(36).slice(2, 8)}`
      const counter = Metric.counter(name, { description: "a \\ help\nline" })
      const value = "a \"quoted\" \\ value\nwith a newline"
      yield* Metric.incrementBy(Metric.tagged(counter, "odd-label", value), 7)
      const text = yield* ReplayHttp.metricsText
      const parsed = parseText(text)
      const sanitized = name.replace(/[.-]/g, "_")
      assert.strictEqual(parsed.types.get(sanitized), "counter")
      assert.include(text, `# HELP ${sanitized} a \\\\ help\\nline\n`)
      assert.strictEqual(parsed.value(sanitized, { odd_label: value }), 7)
    }))

  it.effect("every registry buffer is in the scrape after a refresh, with no registry read in between", () =>
    Effect.gen(function*() {
      const registry = yield* ReplayRegistry.make()
      const key = `fresh-${Math.random().toString(36).slice(2, 8)}`
      const buffer = yield* registry.create(key, { capacity: 4 })
      yield* buffer.write(Clients.bytes("abcdef"))
      const parsed = parseText(yield* ReplayHttp.metricsText)
      assert.strictEqual(parsed.value("scrollback_buffer_bytes_written_total", { key }), 6)
      assert.strictEqual(parsed.value("scrollback_buffer_bytes_evicted_total", { key }), 2)
      assert.strictEqual(parsed.value("scrollback_buffer_retained_bytes", { key }), 4)
    }).pipe(Effect.scoped))
})
