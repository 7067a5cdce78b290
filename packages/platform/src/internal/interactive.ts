import * as Context from "effect/Context"
import type * as Api from "../ReplayInteractive.js"

/** @internal */
export const tag: Context.Tag<Api.ReplayInteractive, Api.ReplayInteractive> = Context.GenericTag<Api.ReplayInteractive>(
  "@scrollback/platform/ReplayInteractive"
)
