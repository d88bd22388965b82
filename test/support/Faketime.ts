/**
 * A wall clock that lies, for a child process: libfaketime.
 *
 * `env()` is the environment to start a child with; `set()` moves its clock
 * while it runs. The child's wall clock (`Date.now`, Effect's `Clock`) reads
 * the offset in the file on every call (`FAKETIME_NO_CACHE=1`), while its
 * monotonic clock, and so its timers, keep real time
 * (`DONT_FAKE_MONOTONIC=1`): exactly what an NTP step or a VM resume does.
 *
 * Needs the Debian package `faketime` (`.ci/run` installs it).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

/** Whether libfaketime is installed (it is in CI: `.ci/run` installs it). */
export const installed = (): boolean => fs.existsSync(library)

export interface Faketime {
  /** The file the child reads its offset from. */
  readonly file: string
  /** Environment variables for the child (merge them over `process.env`). */
  readonly env: () => Record<string, string>
  /**
   * Sets the child's offset from real time: a libfaketime offset such as
   * `"+2h"`, `"-1h"`, `"+0"` (units s, m, h, d; seconds when none), or a
   * number of milliseconds.
   */
  readonly set: (offset: string | number) => void
  readonly dispose: () => void
}

const format = (offset: string | number): string => {
  if (typeof offset === "string") return offset
  const seconds = offset / 1_000
  return `${seconds >= 0 ? "+" : ""}${seconds}`
}

/** A clock for one child process, starting at `offset` (default: real time). */
export const make = (offset: string | number = "+0"): Faketime => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "steadfast-faketime-"))
  const file = path.join(dir, "offset")
  // Written whole, then renamed: the child never reads a half-written offset.
  const set = (value: string | number) => {
    const next = `${file}.next`
    fs.writeFileSync(next, `${format(value)}\n`)
    fs.renameSync(next, file)
  }
  set(offset)
  return {
    file,
    env: () => ({
      LD_PRELOAD: library,
      FAKETIME_TIMESTAMP_FILE: file,
      FAKETIME_NO_CACHE: "1",
      DONT_FAKE_MONOTONIC: "1"
    }),
    set,
    dispose: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}
