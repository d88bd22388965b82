/**
 * Steadfast: a durable, supervised job scheduler on Effect and PostgreSQL.
 *
 * The `steadfast` entry point: jobs, tasks, triggers, the scheduler and its
 * stores. It loads nothing Node-specific beyond what the PostgreSQL driver
 * needs; the command-line interface is `steadfast/cli` and the testing kit
 * `steadfast/testing`, so a worker pays only for what it imports.
 *
 * @since 0.1.0
 */

/** Typed events the scheduler emits. @since 0.1.0 */
export * as Event from "./Event.ts"
/** Misfire planning shared by every store. @since 0.1.0 */
export * as FirePlan from "./FirePlan.ts"
/** Jobs: schedules as data. @since 0.1.0 */
export * as Job from "./Job.ts"
/** The store contract. @since 0.1.0 */
export * as JobStore from "./JobStore.ts"
/** The in-memory store. @since 0.1.0 */
export * as MemoryJobStore from "./MemoryJobStore.ts"
/** Metrics (Prometheus text) and tracing of the runtime. @since 0.4.0 */
export * as Metrics from "./Metrics.ts"
/** The PostgreSQL store. @since 0.1.0 */
export * as PgJobStore from "./PgJobStore.ts"
/** Producers: add jobs without running any. @since 0.2.0 */
export * as Producer from "./Producer.ts"
/** Runs: one fire of a job. @since 0.1.0 */
export * as Run from "./Run.ts"
/** The scheduler runtime. @since 0.1.0 */
export * as Scheduler from "./Scheduler.ts"
/** The store's error. @since 0.1.0 */
export * as StoreError from "./StoreError.ts"
/** Retry policies for store errors. @since 0.1.0 */
export * as StoreRetry from "./StoreRetry.ts"
/** Loop supervision and health. @since 0.1.0 */
export * as Supervisor from "./Supervisor.ts"
/** Tasks: code. @since 0.1.0 */
export * as Task from "./Task.ts"
/** Triggers: when fires happen. @since 0.1.0 */
export * as Trigger from "./Trigger.ts"
