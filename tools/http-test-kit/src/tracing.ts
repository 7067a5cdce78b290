/**
 * A tracer that records every span it makes, for tests that check names,
 * attributes, events, parents and that each span ended (the platform and
 * platform-node observability tests; `@scrollback/core`, which does not
 * depend on this kit, keeps a copy in `packages/core/test/util`).
 */
import { type Context, type Exit, Option, Tracer } from "effect"

let ids = 0

export class RecordedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId: string
  readonly traceId: string
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<{ readonly name: string; readonly attributes: Record<string, unknown> }> = []
  readonly links: Array<Tracer.SpanLink>
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind
  ) {
    this.spanId = `span-${++ids}`
    this.traceId = Option.isSome(parent) ? parent.value.traceId : `trace-${ids}`
    this.status = { _tag: "Started", startTime }
    this.links = Array.from(links)
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") throw new Error(`span ${this.name} ended twice`)
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(name: string, _startTime: bigint, attributes?: Record<string, unknown>): void {
    this.events.push({ name, attributes: attributes ?? {} })
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    for (const link of links) this.links.push(link)
  }
  get ended(): boolean {
    return this.status._tag === "Ended"
  }
  get exit(): Exit.Exit<unknown, unknown> | undefined {
    return this.status._tag === "Ended" ? this.status.exit : undefined
  }
}

export interface Recorder {
  readonly tracer: Tracer.Tracer
  readonly spans: Array<RecordedSpan>
  readonly named: (name: string) => Array<RecordedSpan>
}

export const makeRecorder = (): Recorder => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = new RecordedSpan(name, parent, context, links, startTime, kind)
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans, named: (name) => spans.filter((span) => span.name === name) }
}
