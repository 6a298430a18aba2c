/**
 * Group commit for the mailbox hot path. Posts, node acks and "written to a socket" marks
 * that arrive during one turn of the event loop are committed together, in ONE store
 * transaction (`MailStore.commit`), at the end of that turn (setImmediate). A post's
 * promise settles only after that commit returned, so a 201 still means "durable", and
 * nothing of a post is routed before it is durable. Store-agnostic: all the store sees is
 * one batch; the coalescing lives here.
 *
 * Order inside a batch: delivered marks, then acks, then posts in arrival order (each
 * agent's seqs are assigned in that order). Acks are cumulative, so only the highest per
 * agent is kept; each is resolved to its agent only at commit time (see `ack`). A delivered
 * mark ("written to a socket": a hint for the 30 s re-drive and for views) does not start a
 * commit of its own: it rides with the next one (typically the ack of the same rows), or
 * goes after MARK_LINGER_MS.
 *
 * Anything that reads ack cursors or delivery states (the next node frame, a replay, a
 * REST read) calls `flush()` first, so batching never shows it stale state.
 */
import { performance } from 'node:perf_hooks'
import type { Logger } from '../context'
import type { EngineEvents } from '../events'
import type { AsyncStore, DeliveryRow, PostInput, PostOutcome } from '../store/types'

/** A post's outcome once committed. */
export type Posted = Extract<PostOutcome, { status: 'posted' }>

export interface WriterHooks {
  /** Rows now `delivered` in the store. */
  delivered(rows: DeliveryRow[]): void
  /** A cumulative ack was committed; `rows` are the rows it moved. */
  acked(agentId: string, upToSeq: number, rows: DeliveryRow[]): void
  /** A post was committed: route it (before its caller hears back). */
  posted(input: PostInput, outcome: Posted): void
  /** The end of one commit's reports (after every `posted` of it). */
  committed(): void
}

/** Resolves a node's ack (highest up_to_seq seen) to an agent and engine seq at commit time; undefined drops it. */
export type AckResolver = (upToSeq: number) => Promise<{ agentId: string; upToSeq: number } | undefined>

/** A commit carries at most this many posts; the rest go in the next one (bounds one commit's latency). */
export const MAX_POSTS_PER_COMMIT = 1000

/** A delivered mark older than this (ms) at commit time is stamped with its own time, not the batch's. */
export const MARK_SLACK_MS = 1000

/** Longest a delivered mark waits for a commit to ride with (ms). */
export const MARK_LINGER_MS = 100

interface PendingPost {
  /** Order of arrival (see MailWriter.arrivals). */
  n: number
  input: PostInput
  resolve: (o: PostOutcome) => void
  reject: (err: unknown) => void
}

export class MailWriter {
  private posts: PendingPost[] = []
  private acks = new Map<string, { upToSeq: number; resolve: AckResolver }>()
  private marks: Array<{ row: DeliveryRow; at: number }> = []
  private scheduled = false
  private lingering: NodeJS.Timeout | undefined
  /** Commits run one after another; a flush queues behind the one in flight. */
  private chain: Promise<void> = Promise.resolve()
  /** Writes queued so far (posts, acks, marks): a flush commits those that arrived before it. */
  private arrivals = 0

  constructor(
    private readonly store: AsyncStore,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly events: EngineEvents,
    private readonly hooks: WriterHooks,
  ) {}

  /** Queues a post for the next commit; settles after it (durable) with its outcome. */
  post(input: PostInput): Promise<PostOutcome> {
    return new Promise((resolve, reject) => {
      this.posts.push({ n: ++this.arrivals, input, resolve, reject })
      this.schedule()
    })
  }

  /**
   * Queues a cumulative ack under `key` (one per node socket and agent name); only the
   * highest `upToSeq` per key is kept. `resolve` runs at commit time.
   */
  ack(key: string, upToSeq: number, resolve: AckResolver): void {
    const cur = this.acks.get(key)
    if (cur && cur.upToSeq >= upToSeq) return
    this.arrivals++
    this.acks.set(key, { upToSeq, resolve })
    this.schedule()
  }

  /** A row's frame was written to a socket: queued → delivered with the next commit. */
  delivered(row: DeliveryRow, at: number): void {
    this.arrivals++
    this.marks.push({ row, at })
    if (this.lingering || this.scheduled) return
    this.lingering = setTimeout(() => {
      this.lingering = undefined
      this.schedule()
    }, MARK_LINGER_MS)
    this.lingering.unref()
  }

  /** Acks wait for a commit: a reader of ack cursors must flush first. */
  get acksPending(): boolean {
    return this.acks.size > 0
  }

  get idle(): boolean {
    return this.posts.length === 0 && this.acks.size === 0 && this.marks.length === 0
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      void this.flush()
    })
  }

  /**
   * Commits everything pending, after the commit in flight (if any). Resolves once what was
   * pending when it was called is durable (and reported). Never rejects: a failed commit
   * is logged and its posts rejected.
   *
   * While one commit waits on the database (PostgreSQL), new writes gather for the next:
   * the batch grows with the latency instead of the writes queueing one by one.
   */
  flush(): Promise<void> {
    // Only what is pending now: under a steady stream of posts "until idle" would never end,
    // and a reader (a heartbeat, a register, a GET) would wait on everyone's posts.
    const target = this.arrivals
    const next = this.chain.then(async () => {
      // The first commit takes every ack and mark queued so far; posts go in arrival order,
      // at most MAX_POSTS_PER_COMMIT a commit, so more commits only while older ones wait.
      for (let first = true; !this.idle; first = false) {
        const oldest = this.posts[0]?.n
        if (!first && (oldest === undefined || oldest > target)) break
        await this.commitOnce()
      }
    })
    this.chain = next.catch((err: unknown) => this.log('error', 'mailbox flush failed', { error: String(err) }))
    return this.chain
  }

  private async commitOnce(): Promise<void> {
    if (this.lingering) {
      clearTimeout(this.lingering)
      this.lingering = undefined
    }
    const at = this.now()
    // A batch stamps one time. Marks written more than a moment ago (the clock jumped, or
    // the loop stalled) keep their own write time: it decides when the re-drive resends.
    const marks: Array<{ row: DeliveryRow; at: number }> = []
    const old: Array<{ row: DeliveryRow; at: number }> = []
    for (const m of this.marks) (at - m.at <= MARK_SLACK_MS ? marks : old).push(m)
    this.marks = []
    if (old.length) await this.commitMarks(old)
    const posts = this.posts.length > MAX_POSTS_PER_COMMIT ? this.posts.splice(0, MAX_POSTS_PER_COMMIT) : this.posts
    if (posts === this.posts) this.posts = []
    const pendingAcks = [...this.acks.values()]
    this.acks.clear()
    const byAgent = new Map<string, number>()
    for (const { upToSeq, resolve } of pendingAcks) {
      let a
      try {
        a = await resolve(upToSeq)
      } catch (err) {
        // Dropped: the rows stay unacked and are sent again (at least once).
        this.log('error', 'ack lookup failed', { error: String(err) })
        continue
      }
      if (a && a.upToSeq > (byAgent.get(a.agentId) ?? 0)) byAgent.set(a.agentId, a.upToSeq)
    }
    const acks = [...byAgent].map(([agentId, upToSeq]) => ({ agentId, upToSeq }))
    const t0 = performance.now()
    let result
    try {
      result = await this.store.mail.commit({ at, delivered: marks.map((m) => m.row.id), acks, posts: posts.map((p) => p.input) })
    } catch (err) {
      // Nothing of this batch is stored. Posts fail (their callers answer 500); acks and
      // marks are dropped: the rows stay unacked / queued and are sent again (at least once).
      this.log('error', 'mailbox commit failed', { error: String(err), posts: posts.length, acks: acks.length })
      for (const p of posts) p.reject(err)
      return
    }
    const ms = performance.now() - t0
    this.guard('delivered', () => {
      const moved = marks.filter((_, i) => result.delivered[i]).map((m) => ({ ...m.row, status: 'delivered' as const, deliveredAt: at }))
      if (moved.length) this.hooks.delivered(moved)
    })
    acks.forEach((a, i) => this.guard('acked', () => this.hooks.acked(a.agentId, a.upToSeq, result.acks[i] ?? [])))
    posts.forEach((p, i) => {
      const outcome = result.posts[i]
      if (outcome?.status === 'posted') this.guard('posted', () => this.hooks.posted(p.input, outcome))
    })
    this.guard('committed', () => this.hooks.committed())
    // Callers hear back last: their mail is durable and handed to its nodes' chains.
    posts.forEach((p, i) => p.resolve(result.posts[i] ?? { status: 'failed', error: new Error('post missing from the commit result') }))
    if (this.events.listenerCount('committed')) this.events.emit('committed', { posts: posts.length, acks: acks.length, delivered: marks.length, ms })
  }

  /** Marks alone, one commit per write time. */
  private async commitMarks(marks: Array<{ row: DeliveryRow; at: number }>): Promise<void> {
    const byTime = new Map<number, Array<{ row: DeliveryRow; at: number }>>()
    for (const m of marks) {
      const list = byTime.get(m.at)
      if (list) list.push(m)
      else byTime.set(m.at, [m])
    }
    for (const [at, group] of byTime) {
      let moved: boolean[]
      try {
        moved = (await this.store.mail.commit({ at, delivered: group.map((m) => m.row.id), acks: [], posts: [] })).delivered
      } catch (err) {
        this.log('error', 'mailbox commit failed', { error: String(err), marks: group.length })
        continue
      }
      this.guard('delivered', () => {
        const rows = group.filter((_, i) => moved[i]).map((m) => ({ ...m.row, status: 'delivered' as const, deliveredAt: at }))
        if (rows.length) this.hooks.delivered(rows)
      })
    }
  }

  /** Work after a commit must not stop the rest of it: the data is durable either way. */
  private guard(what: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.log('error', `after commit: ${what} failed`, { error: String(err) })
    }
  }
}
