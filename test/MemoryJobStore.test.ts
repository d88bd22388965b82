import { TestClock } from "effect/testing"
import * as MemoryJobStore from "../src/MemoryJobStore.ts"
import { contract } from "./JobStoreContract.ts"

contract("memory", MemoryJobStore.layer, { elapse: (ms) => TestClock.adjust(ms) })
