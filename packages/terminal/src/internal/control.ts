import type { ReplayBuffer } from "@scrollback/core/ReplayBuffer"
import * as ReplayInteractive from "@scrollback/platform/ReplayInteractive"
import type * as ReplayProtocol from "@scrollback/platform/ReplayProtocol"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { pipeArguments } from "effect/Pipeable"
import * as Scope from "effect/Scope"
import { type InvalidPtySize, PtyExited } from "../ReplayPtyError.js"
import type * as Api from "../TerminalControl.js"
import { TerminalAlreadyRegistered } from "../TerminalControlError.js"
import type * as TerminalKeyframes from "../TerminalKeyframes.js"
import { invalidSize } from "./size.js"

/** @internal */
export const TypeId: Api.TypeId = Symbol.for("@scrollback/terminal/TerminalControl") as Api.TypeId

/** @internal */
export const DEFAULT_MAX_PENDING_MESSAGES = 64

/** @internal */
export const tag: Context.Tag<Api.TerminalControl, Api.TerminalControl> = Context.GenericTag<Api.TerminalControl>(
  "@scrollback/terminal/TerminalControl"
)

const CLOSE_POLICY_VIOLATION = 1008

type Op = ReplayProtocol.WsClientMessage | { readonly type: "acquire"; readonly force: boolean }

/** A registered terminal: its sessions and its controller lease. */
class Entry {
  readonly sessions = new Set<SessionImpl>()
  /** The session holding the lease (it alone may type and resize). */
  holder: SessionImpl | undefined = undefined
  closed = false
  /** The size for the bytes from the buffer's end on (what the last resize set). */
  size: TerminalKeyframes.Size
  constructor(
    readonly key: string,
    readonly terminal: Api.Terminal,
    /** The controller lease: one permit, held by the controlling session in a scope of its own. */
    readonly lease: Effect.Semaphore,
    /** Serializes control changes (take, take over, release) of this terminal. */
    readonly ops: Effect.Semaphore,
    size: TerminalKeyframes.Size
  ) {
    this.size = size
  }

  get keyframes(): TerminalKeyframes.TerminalKeyframes {
    return this.terminal.keyframes
  }

  broadcast(message: ReplayProtocol.WsTerminalMessage): void {
    for (const session of this.sessions) session.send(message)
  }

  broadcastControl(): void {
    for (const session of this.sessions) session.sendControl()
  }

  /**
   * Resizes the PTY and records the change in the keyframes in one synchronous step (no output can be written
   * between them), then tells every client the offset it applies at.
   */
  resize(
    cols: number,
    rows: number
  ): { readonly reason: "InvalidSize" | "Exited"; readonly message: string } | undefined {
    if (this.size.cols === cols && this.size.rows === rows) return undefined
    const pty = this.terminal.pty
    if (pty !== undefined) {
      const resized = Effect.runSyncExit(pty.resize(cols, rows))
      if (Exit.isFailure(resized)) {
        const error = resized.cause._tag === "Fail" ? resized.cause.error : undefined
        return error?._tag === "InvalidPtySize"
          ? { reason: "InvalidSize", message: error.message }
          : { reason: "Exited", message: error?.message ?? "the terminal cannot be resized" }
      }
    }
    const recorded = Effect.runSyncExit(this.keyframes.resize(cols, rows))
    if (Exit.isFailure(recorded)) {
      const error = recorded.cause._tag === "Fail" ? recorded.cause.error : undefined
      return { reason: "InvalidSize", message: error?.message ?? "the size is out of bounds" }
    }
    this.size = { cols, rows }
    this.broadcast({ type: "resize", ...recorded.value })
    return undefined
  }
}

/** `keyframeFor` of an in-memory buffer is synchronous: read in one step with the registration it goes with. */
const resumeNow = (
  keyframes: TerminalKeyframes.TerminalKeyframes,
  requested: number
): TerminalKeyframes.Resume | undefined => {
  const exit = Effect.runSyncExit(keyframes.keyframeFor(requested))
  return Exit.isSuccess(exit) ? exit.value : undefined
}

const resizeMessages = (
  changes: ReadonlyArray<TerminalKeyframes.SizeChange>
): Array<ReplayProtocol.WsTerminalMessage> =>
  changes.map(({ cols, offset, rows }) => ({ type: "resize", offset, cols, rows }))

/** One WebSocket connection of a registered terminal. */
class SessionImpl implements ReplayInteractive.Session {
  peer: ReplayInteractive.Peer | undefined = undefined
  /** Messages for the client before it started (the first ones, and resizes meanwhile). */
  outbox: Array<ReplayProtocol.WsTerminalMessage> = []
  pending: Array<Op> = []
  draining = false
  closed = false
  /** While this session controls the terminal: the scope holding the lease's permit. */
  leaseScope: Scope.CloseableScope | undefined = undefined

  constructor(
    readonly control: ControlImpl,
    readonly entry: Entry,
    readonly canControl: boolean,
    readonly wants: "take" | "ifFree" | "no",
    readonly from: number
  ) {}

  send(message: ReplayProtocol.WsTerminalMessage): void {
    if (this.closed) return
    if (this.peer === undefined) this.outbox.push(message)
    else this.peer.send(message)
  }

  sendControl(): void {
    const entry = this.entry
    this.send({
      type: "control",
      role: entry.holder === this ? "controller" : "viewer",
      canControl: this.canControl && !entry.closed,
      controlled: entry.holder !== undefined
    })
  }

  reject(request: Op["type"], reason: ReplayProtocol.RejectReason, message: string): void {
    if (request === "acquire") return this.sendControl()
    this.send({ type: "rejected", request, reason, message })
  }

  get isController(): boolean {
    return this.entry.holder === this && !this.entry.closed
  }

  // --- ReplayInteractive.Session ---

  start(peer: ReplayInteractive.Peer): void {
    if (this.closed) return
    this.peer = peer
    const outbox = this.outbox
    this.outbox = []
    for (const message of outbox) peer.send(message)
    if (this.wants === "no") this.sendControl()
    else this.enqueue({ type: "acquire", force: this.wants === "take" })
  }

  receive(message: ReplayProtocol.WsClientMessage): void {
    if (this.closed) return
    if (this.pending.length >= this.control.maxPendingMessages) {
      return this.peer?.close(CLOSE_POLICY_VIOLATION, "too many messages waiting")
    }
    this.enqueue(message)
  }

  resync(gap: ReplayProtocol.Gap): number | undefined {
    if (this.closed) return undefined
    const resume = resumeNow(this.entry.keyframes, gap.requested)
    if (resume === undefined || resume._tag !== "Keyframe") return undefined
    const keyframe = resume.keyframe
    this.send({
      type: "terminal",
      offset: keyframe.offset,
      cols: keyframe.cols,
      rows: keyframe.rows,
      unicode: this.entry.keyframes.unicodeVersion,
      snapshot: keyframe.snapshot
    })
    for (const message of resizeMessages(resume.resizes)) this.send(message)
    return keyframe.offset
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.pending = []
    this.entry.sessions.delete(this)
    // The lease goes with the connection (an acquisition in flight sees `closed` and gives it back).
    if (this.leaseScope !== undefined) this.control.run(this.release)
  }

  // --- processing, in order, in a fiber that lives while messages wait ---

  private enqueue(op: Op): void {
    this.pending.push(op)
    if (this.draining) return
    this.draining = true
    this.control.run(this.drain)
  }

  private readonly drain: Effect.Effect<void> = Effect.suspend(() => {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      if (this.closed || this.pending.length === 0) return Effect.void
      const op = this.pending.shift()!
      return Effect.zipRight(this.process(op), loop)
    })
    return loop
  }).pipe(
    Effect.ensuring(Effect.sync(() => {
      this.draining = false
      if (!this.closed && this.pending.length > 0) {
        this.draining = true
        this.control.run(this.drain)
      }
    }))
  )

  private process(op: Op): Effect.Effect<void> {
    const entry = this.entry
    const pty = entry.terminal.pty
    switch (op.type) {
      case "acquire":
        return this.canControl ? this.acquire(op.force) : Effect.sync(() => this.sendControl())
      case "takeover":
        if (pty === undefined) {
          return Effect.sync(() => this.reject("takeover", "ReadOnly", "this terminal takes no input"))
        }
        if (!this.canControl) {
          return Effect.sync(() =>
            this.reject("takeover", "NotAllowed", "this client may not type (an access token is required)")
          )
        }
        return this.acquire(true)
      case "release":
        return this.isController ? this.release : Effect.void
      case "input":
        if (pty === undefined) {
          return Effect.sync(() => this.reject("input", "ReadOnly", "this terminal takes no input"))
        }
        if (!this.isController) {
          return Effect.sync(() => this.reject("input", "NotController", "another client controls the terminal"))
        }
        return pty.write(op.data).pipe(
          Effect.catchTags({
            PtyExited: (error) => Effect.sync(() => this.reject("input", "Exited", error.message)),
            PtyInputOverflow: (error) => Effect.sync(() => this.reject("input", "Overflow", error.message))
          })
        )
      case "resize":
        if (pty === undefined) {
          return Effect.sync(() => this.reject("resize", "ReadOnly", "this terminal takes no input"))
        }
        if (!this.isController) {
          return Effect.sync(() => this.reject("resize", "NotController", "another client controls the terminal"))
        }
        return Effect.sync(() => this.resize(op.cols, op.rows))
    }
  }

  private resize(cols: number, rows: number): void {
    const refused = this.entry.resize(cols, rows)
    if (refused !== undefined) this.reject("resize", refused.reason, refused.message)
  }

  /** Takes the lease (from its holder with `force`), under the terminal's control lock. */
  private acquire(force: boolean): Effect.Effect<void> {
    const entry = this.entry
    return entry.ops.withPermits(1)(Effect.gen(this, function*() {
      if (this.closed || entry.closed || entry.holder === this) return
      const previous = entry.holder
      if (previous !== undefined) {
        if (!force) return
        yield* previous.dropLease
      }
      const scope = yield* Scope.make()
      yield* Effect.uninterruptible(
        Effect.zipRight(
          entry.lease.take(1),
          Scope.addFinalizer(
            scope,
            Effect.zipRight(
              entry.lease.release(1),
              Effect.sync(() => {
                if (entry.holder === this) entry.holder = undefined
              })
            )
          )
        )
      )
      if (this.closed) return yield* Scope.close(scope, Exit.void)
      this.leaseScope = scope
      entry.holder = this
    })).pipe(Effect.zipRight(Effect.sync(() => entry.broadcastControl())))
  }

  /** Closes the lease's scope (under the control lock): the permit goes back. */
  readonly dropLease: Effect.Effect<void> = Effect.suspend(() => {
    const scope = this.leaseScope
    this.leaseScope = undefined
    return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
  })

  readonly release: Effect.Effect<void> = Effect.suspend(() =>
    this.entry.ops.withPermits(1)(this.dropLease).pipe(
      Effect.zipRight(Effect.sync(() => this.entry.broadcastControl()))
    )
  )
}

class ControlImpl implements Api.TerminalControl {
  readonly [TypeId]: Api.TypeId = TypeId
  readonly entries = new Map<string, Entry>()
  constructor(
    readonly options: Api.Options,
    readonly run: <A, E>(effect: Effect.Effect<A, E>) => unknown,
    readonly maxPendingMessages: number
  ) {}

  pipe() {
    return pipeArguments(this, arguments)
  }

  readonly register = (
    key: string,
    terminal: Api.Terminal
  ): Effect.Effect<void, TerminalAlreadyRegistered, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.suspend(() => {
        if (this.entries.has(key)) return Effect.fail(new TerminalAlreadyRegistered({ key }))
        const end = resumeNow(terminal.keyframes, Number.MAX_SAFE_INTEGER)
        const size = end !== undefined && end._tag === "Replay" ? end.size : { cols: 80, rows: 24 }
        const entry = new Entry(key, terminal, Effect.unsafeMakeSemaphore(1), Effect.unsafeMakeSemaphore(1), size)
        this.entries.set(key, entry)
        return Effect.succeed(entry)
      }),
      (entry) => this.unregister(entry)
    ).pipe(Effect.asVoid)

  /** The terminal is gone: its controller's lease is released, and every client is told that no one controls it. */
  private unregister(entry: Entry): Effect.Effect<void> {
    return entry.ops.withPermits(1)(
      Effect.suspend(() => {
        entry.closed = true
        if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key)
        return entry.holder?.dropLease ?? Effect.void
      })
    ).pipe(Effect.zipRight(Effect.sync(() => entry.broadcastControl())))
  }

  readonly resize = (key: string, cols: number, rows: number): Effect.Effect<void, InvalidPtySize | PtyExited> =>
    Effect.suspend((): Effect.Effect<void, InvalidPtySize | PtyExited> => {
      const entry = this.entries.get(key)
      if (entry === undefined || entry.closed) return Effect.void
      const refused = entry.resize(cols, rows)
      if (refused === undefined) return Effect.void
      return refused.reason === "Exited"
        ? Effect.fail(new PtyExited({ pid: entry.terminal.pty?.pid ?? 0, operation: "resize" }))
        : Effect.fail(invalidSize(cols, rows))
    })

  readonly state = (key: string): Effect.Effect<Option.Option<Api.State>> =>
    Effect.suspend(() => {
      const entry = this.entries.get(key)
      if (entry === undefined) return Effect.succeed(Option.none())
      return Effect.map(
        entry.lease.withPermitsIfAvailable(1)(Effect.void),
        (free): Option.Option<Api.State> =>
          Option.some({
            sessions: entry.sessions.size,
            controlled: entry.holder !== undefined,
            leaseHeld: Option.isNone(free),
            size: entry.size
          })
      )
    })

  readonly open = (request: ReplayInteractive.OpenRequest): Effect.Effect<ReplayInteractive.Session | undefined> =>
    Effect.gen(this, function*() {
      const entry = this.entries.get(request.key)
      if (entry === undefined || entry.closed || entry.keyframes.buffer !== (request.buffer as ReplayBuffer)) {
        return undefined
      }
      const allowed = entry.terminal.pty !== undefined && Either.isRight(
        yield* Effect.either(this.options.authorizeInput({
          key: request.key,
          transport: "ws",
          method: request.method,
          url: request.url,
          headers: request.headers,
          remoteAddress: request.remoteAddress
        }))
      )
      const wants = !allowed
        ? "no"
        : request.decoded.takeover === true
        ? "take"
        : (this.options.autoControl ?? true)
        ? "ifFree"
        : "no"
      // In one synchronous step: where the session starts, and its registration (no resize falls in between).
      return yield* Effect.sync(() => {
        if (entry.closed) return undefined
        const requested = Math.max(0, request.decoded.offset ?? 0)
        const resume = resumeNow(entry.keyframes, requested)
        if (resume === undefined) return undefined
        const unicode = entry.keyframes.unicodeVersion
        let session: SessionImpl
        switch (resume._tag) {
          case "Keyframe": {
            const keyframe = resume.keyframe
            session = new SessionImpl(this, entry, allowed, wants, keyframe.offset)
            session.outbox.push({
              type: "terminal",
              offset: keyframe.offset,
              cols: keyframe.cols,
              rows: keyframe.rows,
              unicode,
              snapshot: keyframe.snapshot
            })
            break
          }
          case "Replay":
            session = new SessionImpl(this, entry, allowed, wants, resume.offset)
            session.outbox.push({ type: "terminal", offset: resume.offset, ...resume.size, unicode })
            break
          case "Gap":
            // No keyframe (the engine fell behind, or has none yet): the bytes from `oldest`, after a visible gap.
            session = new SessionImpl(this, entry, allowed, wants, resume.requested)
            session.outbox.push({ type: "terminal", offset: resume.requested, ...resume.size, unicode })
            break
        }
        session.outbox.push(...resizeMessages(resume.resizes))
        entry.sessions.add(session)
        return session
      })
    })

  /** Closes every lease (the service's scope closes). */
  readonly shutdown: Effect.Effect<void> = Effect.suspend(() =>
    Effect.forEach(Array.from(this.entries.values()), (entry) => this.unregister(entry), { discard: true })
  )
}

/** @internal */
export const make = (
  options: Api.Options
): Effect.Effect<Api.TerminalControl & ReplayInteractive.ReplayInteractive, never, Scope.Scope> =>
  Effect.gen(function*() {
    const maxPendingMessages = options.maxPendingMessages ?? DEFAULT_MAX_PENDING_MESSAGES
    if (!Number.isSafeInteger(maxPendingMessages) || maxPendingMessages < 1) {
      return yield* Effect.dieMessage(`maxPendingMessages must be a positive safe integer, got ${maxPendingMessages}`)
    }
    const run = yield* FiberSet.makeRuntime<never>()
    const control = new ControlImpl(options, run as ControlImpl["run"], maxPendingMessages)
    yield* Effect.addFinalizer(() => control.shutdown)
    return control
  })

/** @internal */
export const layer = (
  options: Api.Options
): Layer.Layer<Api.TerminalControl | ReplayInteractive.ReplayInteractive> =>
  Layer.scopedContext(
    Effect.map(make(options), (control) =>
      Context.make(tag, control as Api.TerminalControl).pipe(
        Context.add(ReplayInteractive.ReplayInteractive, control as ReplayInteractive.ReplayInteractive)
      ))
  )
