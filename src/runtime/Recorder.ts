/**
 * The recorder: writes the outcomes of finished runs in batches (one store
 * round trip for up to 1,000 outcomes), each fenced by its run's token, so a
 * node that lost a lease cannot overwrite the newer outcome. A run's lease is
 * renewed until its outcome is accepted, so an outage while writing cannot
 * make another node run it again; a batch that failed stays queued and is
 * written by the restarted recorder. It waits for outcomes by design (idle,
 * not watched); with a batch in hand it must write it within `stallAfterMs`.
 *
 * @since 0.2.0
 */
import type { Executor } from "../Executor.ts"
import type * as Supervisor from "../Supervisor.ts"
import type { Loop } from "./Loop.ts"

/**
 * What the recorder needs.
 *
 * @since 0.2.0
 */
export interface Options {
  readonly executor: Pick<Executor, "recorder">
  readonly supervisor: Supervisor.Supervisor
  readonly stallAfterMs: number
}

/**
 * The recorder loop.
 *
 * @since 0.2.0
 */
export const make = (options: Options): Loop => {
  const name = "recorder"
  return {
    name,
    stallAfterMs: options.stallAfterMs,
    body: options.executor.recorder({
      idle: options.supervisor.idle(name),
      progress: options.supervisor.progress(name)
    })
  }
}
