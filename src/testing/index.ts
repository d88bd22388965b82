/**
 * `steadfast/testing`: the kit we test Steadfast with, for testing your jobs.
 *
 * - `TestScheduler`: the real runtime on the in-memory store, driven by `TestClock`;
 * - `FaultyJobStore`: wraps any store and fails chosen operations by plan;
 * - `Arbitraries`: store errors, failure plans and triggers for `it.effect.prop`;
 * - `Assertions`: "fired exactly at", "no fire lost", "restarted at most k times".
 *
 * @since 0.1.0
 */

/** Generators for property tests. @since 0.1.0 */
export * as Arbitraries from "./Arbitraries.ts"
/** Assertions about history, events and health. @since 0.1.0 */
export * as Assertions from "./Assertions.ts"
/** A store wrapper that injects faults by plan. @since 0.1.0 */
export * as FaultyJobStore from "./FaultyJobStore.ts"
/** The scheduler on the in-memory store, for TestClock tests. @since 0.1.0 */
export * as TestScheduler from "./TestScheduler.ts"
