/**
 * Effect's metric snapshot in the Prometheus text exposition format (0.0.4):
 * one family per metric name, `# HELP` from the description, `# TYPE`
 * from the key type, a sample per tag set. Counters and gauges are one
 * sample; histograms `_bucket{le}` (cumulative, `+Inf` last), `_sum` and
 * `_count`; summaries `{quantile}`, `_sum` and `_count`; a frequency is a
 * counter with one series per word (tag `key`).
 *
 * Names and tag names are made valid (any other character becomes `_`); tag
 * values and help text are escaped. A name used by metrics of two types keeps
 * the first type seen; the others are left out (Prometheus would refuse the
 * whole scrape).
 *
 * @internal
 */
import type * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

/** @internal */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** @internal */
export const metricName = (name: string): string =>
  NAME.test(name) ? name : (/^[0-9]/.test(name) ? "_" : "") + name.replace(/[^a-zA-Z0-9_:]/g, "_")

const labelName = (name: string): string =>
  LABEL.test(name) ? name : (/^[0-9]/.test(name) ? "_" : "") + name.replace(/[^a-zA-Z0-9_]/g, "_")

/** @internal */
export const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, "\\\"")

const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** @internal */
export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Infinity) return "+Inf"
  if (value === -Infinity) return "-Inf"
  return String(value)
}

const labels = (tags: ReadonlyArray<MetricLabel.MetricLabel>, extra?: readonly [string, string]): string => {
  const parts: Array<string> = []
  for (const tag of tags) parts.push(`${labelName(tag.key)}="${escapeLabelValue(tag.value)}"`)
  if (extra !== undefined) parts.push(`${extra[0]}="${escapeLabelValue(extra[1])}"`)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

type Kind = "counter" | "gauge" | "histogram" | "summary"

const kindOf = (state: MetricState.MetricState.Untyped): Kind | undefined => {
  if (MetricState.isCounterState(state) || MetricState.isFrequencyState(state)) return "counter"
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isSummaryState(state)) return "summary"
  return undefined
}

/** The samples of one series, in the order the format wants them. */
const samples = (
  name: string,
  tags: ReadonlyArray<MetricLabel.MetricLabel>,
  state: MetricState.MetricState.Untyped
) => {
  const out: Array<string> = []
  if (MetricState.isCounterState(state)) {
    out.push(`${name}${labels(tags)} ${formatValue(state.count)}`)
  } else if (MetricState.isGaugeState(state)) {
    out.push(`${name}${labels(tags)} ${formatValue(state.value)}`)
  } else if (MetricState.isFrequencyState(state)) {
    const words = Array.from(state.occurrences.entries()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    for (const [word, count] of words) out.push(`${name}${labels(tags, ["key", word])} ${formatValue(count)}`)
  } else if (MetricState.isHistogramState(state)) {
    let infinite = false
    for (const [boundary, count] of state.buckets) {
      if (boundary === Infinity) infinite = true
      out.push(`${name}_bucket${labels(tags, ["le", formatValue(boundary)])} ${formatValue(count)}`)
    }
    if (!infinite) out.push(`${name}_bucket${labels(tags, ["le", "+Inf"])} ${formatValue(state.count)}`)
    out.push(`${name}_sum${labels(tags)} ${formatValue(state.sum)}`)
    out.push(`${name}_count${labels(tags)} ${formatValue(state.count)}`)
  } else if (MetricState.isSummaryState(state)) {
    for (const [quantile, value] of state.quantiles) {
      if (Option.isSome(value)) {
        out.push(`${name}${labels(tags, ["quantile", formatValue(quantile)])} ${formatValue(value.value)}`)
      }
    }
    out.push(`${name}_sum${labels(tags)} ${formatValue(state.sum)}`)
    out.push(`${name}_count${labels(tags)} ${formatValue(state.count)}`)
  }
  return out
}

interface Family {
  readonly kind: Kind
  help: string | undefined
  readonly series: Array<{ readonly order: string; readonly lines: Array<string> }>
}

/** @internal */
export const encode = (pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const kind = kindOf(pair.metricState)
    if (kind === undefined) continue
    const name = metricName(pair.metricKey.name)
    let family = families.get(name)
    if (family === undefined) {
      family = { kind, help: undefined, series: [] }
      families.set(name, family)
    } else if (family.kind !== kind) {
      continue
    }
    const description = pair.metricKey.description
    if (family.help === undefined && Option.isSome(description)) family.help = description.value
    const tags = pair.metricKey.tags
    family.series.push({ order: labels(tags), lines: samples(name, tags, pair.metricState) })
  }
  const out: Array<string> = []
  for (const name of Array.from(families.keys()).sort()) {
    const family = families.get(name)!
    if (family.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${name} ${family.kind}`)
    family.series.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
    for (const series of family.series) for (const line of series.lines) out.push(line)
  }
  return out.length === 0 ? "" : out.join("\n") + "\n"
}
