/**
 * An engine whose log of record is "elsewhere": a second, independent log in
 * this process that accepts writes after a yield (as a remote call would
 * return later), fences writers with a token, can be made unavailable, and
 * feeds a replica (`ReplayReplica`) with what it accepted. It exercises the
 * replica path the Redis engine uses, with every rule of the contract.
 */
import { Contract } from "@scrollback/contract-kit"
import {
  BufferClosed,
  type InvalidCapacity,
  type InvalidOffset,
  LeaseLost,
  OffsetOverflow,
  type ProducerFailed,
  StorageUnavailable,
  WriterBusy
} from "@scrollback/core/ReplayBufferError"
import * as ReplayReplica from "@scrollback/core/ReplayReplica"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"

export interface RemoteLog {
  /** Every chunk accepted, with its offset: the log of record. */
  readonly entries: Array<{ readonly offset: number; readonly chunks: ReadonlyArray<Uint8Array> }>
  total: number
  ended: Exit.Exit<void, ProducerFailed> | undefined
  /** The token of the writer whose lease is current. */
  fence: object | undefined
  /** While `true`, every call fails with StorageUnavailable and changes nothing. */
  down: boolean
}

export interface Remote {
  readonly log: RemoteLog
  readonly replica: ReplayReplica.Replica
}

/** A replica of a fresh remote log; `start` is where the remote numbering begins. */
export const makeRemote = (
  capacity: number,
  start = 0
): Effect.Effect<Remote, InvalidCapacity | InvalidOffset> =>
  Effect.gen(function*() {
    const log: RemoteLog = { entries: [], total: start, ended: undefined, fence: undefined, down: false }
    let replica: ReplayReplica.Replica | undefined = undefined
    const unavailable = new StorageUnavailable({ reason: "the remote log is down" })
    // A remote call: answered after a yield, so other fibers run in between, as they would while it travels.
    const call = <A, E>(f: () => Exit.Exit<A, E>): Effect.Effect<A, E | StorageUnavailable> =>
      Effect.zipRight(
        Effect.yieldNow(),
        Effect.suspend((): Exit.Exit<A, E | StorageUnavailable> => log.down ? Exit.fail(unavailable) : f())
      )
    const made = yield* ReplayReplica.make({
      capacity,
      epoch: "0123456789abcdef",
      start,
      engine: {
        writeAll: (chunks, lease) =>
          call((): Exit.Exit<void, BufferClosed | LeaseLost | WriterBusy | OffsetOverflow> => {
            if (log.ended !== undefined) return Exit.fail(new BufferClosed({ total: log.total }))
            if (lease !== undefined && lease !== log.fence) return Exit.fail(new LeaseLost({ reason: "fenced" }))
            if (lease === undefined && log.fence !== undefined) {
              return Exit.fail(new WriterBusy({ epoch: "0123456789abcdef" }))
            }
            const length = chunks.reduce((n, c) => n + c.length, 0)
            if (log.total + length > Number.MAX_SAFE_INTEGER) {
              return Exit.fail(new OffsetOverflow({ total: log.total, length }))
            }
            const copies = chunks.map((c) => c.slice())
            const offset = log.total
            log.entries.push({ offset, chunks: copies })
            log.total += length
            replica!.unsafeApply(offset, copies)
            return Exit.void
          }),
        end: (exit, lease) =>
          call((): Exit.Exit<boolean, LeaseLost> => {
            if (lease !== undefined && lease !== log.fence) return Exit.fail(new LeaseLost({ reason: "fenced" }))
            if (log.ended !== undefined) return Exit.succeed(false)
            log.ended = exit
            return Exit.succeed(replica!.unsafeApplyEnd(exit))
          }),
        acquireWriter: (options) => {
          const token = {}
          const take: Effect.Effect<object, WriterBusy | StorageUnavailable> = call(
            (): Exit.Exit<object, WriterBusy> => {
              if (log.fence !== undefined) return Exit.fail(new WriterBusy({ epoch: "0123456789abcdef" }))
              log.fence = token
              return Exit.succeed(token)
            }
          )
          const acquire = options.wait === true
            ? Effect.retry(take, { while: (error) => error._tag === "WriterBusy" })
            : take
          return Effect.acquireRelease(acquire, () =>
            Effect.sync(() => {
              if (log.fence === token) log.fence = undefined
            }))
        }
      }
    })
    replica = made
    return { log, replica: made }
  })

/** The contract kit's `BufferMaker` for replicas of remote logs. */
export const layerRemote: Layer.Layer<Contract.BufferMaker> = Layer.succeed(Contract.BufferMaker, {
  make: (options) => Effect.map(Effect.orDie(makeRemote(options.capacity)), (remote) => remote.replica.buffer)
})
