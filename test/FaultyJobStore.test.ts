/**
 * The fault-injecting store is itself tested: the PostgreSQL store wrapped in
 * it, with retryable faults that end, and retried by `StoreRetry`, passes the
 * very store contract suite.
 */
import { Layer } from "effect"
import { StoreRetry } from "steadfast"
import { FaultyJobStore } from "steadfast/testing"
import { Effect } from "effect"
import { JobStore } from "../src/JobStore.ts"
import { contract } from "./JobStoreContract.ts"
import { realWait } from "./support/Harness.ts"
import * as Pg from "./support/Pg.ts"

// Every operation's 1st, 3rd and 4th calls fail with a retryable error before
// taking effect (as when the connection drops before the statement commits);
// later calls go through: the faults end. (A fault *after* the effect, a reply
// lost in commit, is not transparent to a retry for every operation: the
// scheduler tests cover how the runtime copes with those.)
const plan: FaultyJobStore.Plan = (operation, call) =>
  operation === "changes" || call > 4 || call === 2
    ? undefined
    : { _tag: "Fail", error: FaultyJobStore.connectionLost(operation) }

const faultyPg = Layer.effect(
  JobStore,
  Effect.gen(function*() {
    return StoreRetry.retrying(yield* JobStore, StoreRetry.defaultSchedule)
  })
).pipe(Layer.provide(FaultyJobStore.layer(plan)), Layer.provide(Pg.layerStore()))

contract("PostgreSQL behind injected retryable faults", faultyPg, { elapse: realWait, live: true })
