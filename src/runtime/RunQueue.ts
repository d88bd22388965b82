/**
 * The executor's queue of claimed runs waiting for a handler slot or for
 * their due instant: a binary heap ordered by due instant, then fire time,
 * then arrival, so runs start in fire-time order whichever claim brought
 * them, and the head is always the first run allowed to start.
 *
 * Removal is lazy: an entry withdrawn, revoked or superseded while queued is
 * dropped when it reaches the head (the caller says which entries are still
 * live), so taking a run out of the middle costs nothing.
 *
 * @since 0.3.0
 */

/**
 * What the queue orders by.
 *
 * @since 0.3.0
 */
export interface Queued {
  readonly run: { readonly dueAt: number; readonly fireTime: number }
}

/**
 * A queue of runs.
 *
 * @since 0.3.0
 */
export interface RunQueue<A extends Queued> {
  /** Adds an entry. */
  readonly push: (entry: A) => void
  /** The first live entry, without removing it (dead ones before it are dropped). */
  readonly peek: () => A | undefined
  /** Removes the first live entry (dead ones before it are dropped). */
  readonly pop: () => A | undefined
  /** Entries held, live or not yet dropped. */
  readonly size: () => number
  /** Removes every entry, returning the live ones. */
  readonly drain: () => Array<A>
}

/**
 * A queue whose entries are live while `live(entry)` holds.
 *
 * @since 0.3.0
 */
export const make = <A extends Queued>(live: (entry: A) => boolean): RunQueue<A> => {
  const heap: Array<{ readonly entry: A; readonly seq: number }> = []
  let sequence = 0
  const before = (i: number, j: number): boolean => {
    const a = heap[i]!
    const b = heap[j]!
    const x = a.entry.run
    const y = b.entry.run
    return x.dueAt !== y.dueAt ? x.dueAt < y.dueAt : x.fireTime !== y.fireTime ? x.fireTime < y.fireTime : a.seq < b.seq
  }
  const swap = (i: number, j: number) => {
    const t = heap[i]!
    heap[i] = heap[j]!
    heap[j] = t
  }
  const up = (start: number) => {
    let i = start
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(i, parent)) return
      swap(i, parent)
      i = parent
    }
  }
  const down = (start: number) => {
    let i = start
    while (true) {
      const left = 2 * i + 1
      const right = left + 1
      let first = i
      if (left < heap.length && before(left, first)) first = left
      if (right < heap.length && before(right, first)) first = right
      if (first === i) return
      swap(i, first)
      i = first
    }
  }
  const removeHead = () => {
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      down(0)
    }
  }
  const peek = (): A | undefined => {
    while (heap.length > 0) {
      const head = heap[0]!.entry
      if (live(head)) return head
      removeHead()
    }
    return undefined
  }
  return {
    push: (entry) => {
      heap.push({ entry, seq: sequence++ })
      up(heap.length - 1)
    },
    peek,
    pop: () => {
      const head = peek()
      if (head !== undefined) removeHead()
      return head
    },
    size: () => heap.length,
    drain: () => {
      const entries = heap.map(({ entry }) => entry).filter(live)
      heap.length = 0
      return entries
    }
  }
}
