/**
 * Waiting with a hard bound. `Effect.timeout` interrupts the late effect and
 * then waits for it to end — which, for a query on a silent connection or a
 * handler that ignores interruption, may be never. `within` runs the effect
 * on a fiber of its own and stops waiting at the bound: the late fiber is
 * interrupted in the background and abandoned. Used wherever shutdown must
 * end within its grace period plus a fixed margin, whatever the database or a
 * handler does.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

/**
 * Runs `effect` and waits at most `ms` for it: `Some(exit)` when it ended in
 * time, `None` when it did not (it is then interrupted, not waited for). A
 * caller interrupted while waiting interrupts it the same way: the detached
 * fiber never outlives its caller's interest in it.
 *
 * @since 0.2.0
 */
export const within = <A, E>(effect: Effect.Effect<A, E>, ms: number): Effect.Effect<Option.Option<Exit.Exit<A, E>>> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkDetach(effect)
      const abandon = Effect.asVoid(Effect.forkDetach(Fiber.interrupt(fiber)))
      const exit = yield* restore(Effect.timeoutOption(Fiber.await(fiber), ms)).pipe(Effect.onInterrupt(() => abandon))
      if (Option.isNone(exit)) yield* abandon
      return exit
    })
  )

/**
 * Closes `scope`, waiting at most `ms`: a fiber of it stuck where interruption
 * cannot reach is abandoned. Returns whether it closed in time.
 *
 * @since 0.2.0
 */
export const close = (scope: Scope.Closeable, ms: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
    return Option.isSome(yield* Effect.timeoutOption(Fiber.await(closing), ms))
  })
