import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as ReplayBuffer from "@scrollback/core/ReplayBuffer"
import * as ReplayMetrics from "@scrollback/core/ReplayMetrics"
import * as ReplayRegistry from "@scrollback/core/ReplayRegistry"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Api from "../../ReplayHttp.js"
import * as HttpError from "../../ReplayHttpError.js"
import type * as ProtocolApi from "../../ReplayProtocol.js"
import * as Prometheus from "../prometheus.js"
import * as Protocol from "../protocol.js"
import { tag } from "./config.js"
import { authorize, lookup, readRequest, refusal } from "./read.js"

const NO_STORE = { "cache-control": "no-store" }

/** A buffer's state, read in one step (an empty read past the end carries a consistent snapshot). @internal */
export const infoOf = (key: string, buffer: ReplayBuffer.ReplayBuffer): Effect.Effect<ProtocolApi.Info> =>
  Effect.map(Effect.orDie(buffer.readChunks(Number.MAX_SAFE_INTEGER, { maxBytes: 1 })), (state) => {
    const base = { key, epoch: buffer.epoch, capacity: buffer.capacity, oldest: state.oldest, total: state.total }
    if (Option.isNone(state.ended)) return { ...base, ended: false as const }
    const end = Protocol.endOf(state.ended.value)
    if (end.status === "ended") return { ...base, ended: "ended" as const }
    return end.exitCode === undefined
      ? { ...base, ended: "failed" as const, reason: end.reason }
      : { ...base, ended: "failed" as const, reason: end.reason, exitCode: end.exitCode }
  })

const encodeInfo = Schema.encodeSync(Protocol.Info)
const encodeList = Schema.encodeSync(Protocol.List)

/** `GET {prefix}/{key}/info`. @internal */
export const info = (
  request: HttpServerRequest.HttpServerRequest,
  key: string
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Api.Refusal,
  ReplayRegistry.ReplayRegistry | Api.Authorization
> =>
  Effect.gen(function*() {
    yield* authorize(readRequest(request, "get", key), key, "info")
    const buffer = yield* lookup(key)
    return HttpServerResponse.unsafeJson(encodeInfo(yield* infoOf(key, buffer)), { headers: NO_STORE })
  })

/** `GET {prefix}`: the buffers held, when the list endpoint is on (a `404` otherwise). @internal */
export const list = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  Api.Refusal,
  Api.ReplayHttp | ReplayRegistry.ReplayRegistry | Api.Authorization
> =>
  Effect.gen(function*() {
    const { options } = yield* tag
    const path = request.url.split("?")[0]
    if (!options.list) return yield* Effect.fail(refusal(new HttpError.NotFound({ path })))
    yield* authorize(readRequest(request, "get", ""), undefined, "list")
    const registry = yield* ReplayRegistry.ReplayRegistry
    const entries = yield* Effect.mapError(registry.list, (error) => refusal(error, { "retry-after": "1" }))
    const buffers = yield* Effect.forEach(entries, (entry) =>
      Effect.map(infoOf(entry.key, entry.buffer), (info) => ({ ...info, createdAt: entry.createdAt })))
    return HttpServerResponse.unsafeJson(encodeList({ buffers }), { headers: NO_STORE })
  })

/**
 * The metrics in the Prometheus text format: `ReplayMetrics.snapshot` (every
 * metric of Effect's registry, the storage's brought up to date), encoded.
 *
 * @internal
 */
export const metricsText: Effect.Effect<string> = Effect.map(ReplayMetrics.snapshot, Prometheus.encode)

/** `GET {metricsPath}`, when the endpoint is on: authorized with `transport: "metrics"` and no key. @internal */
export const metrics = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse, Api.Refusal, Api.Authorization> =>
  Effect.gen(function*() {
    yield* authorize(readRequest(request, "get", ""), undefined, "metrics")
    return HttpServerResponse.text(yield* metricsText, {
      contentType: Prometheus.CONTENT_TYPE,
      headers: NO_STORE
    })
  })
