/**
 * `steadfast/testing`: the kit we test Steadfast with, for testing your jobs.
 *
 * @since 0.1.0
 */

/** A store wrapper that injects faults by plan. @since 0.1.0 */
export * as FaultyJobStore from "./FaultyJobStore.ts"
