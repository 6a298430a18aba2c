/**
 * The group-commit writer on a store whose commits take time (as PostgreSQL's do): a flush
 * waits for what was pending when it was called, not for a quiet moment. Before, a reader
 * (a heartbeat, an agent.register, a GET) behind a steady stream of posts waited for the
 * stream to stop. The store is scripted (each commit resolves when the test says so): the
 * fault here is timing, which a real database cannot be made to show on demand.
 */
import { describe, expect, it } from 'vitest'
import { EngineEvents } from '../../electron/engine/events'
import { MailWriter } from '../../electron/engine/mailbox/writer'
import type { AsyncStore, MailBatch, MailBatchResult, PostInput } from '../../electron/engine/store/types'

/** A store whose every commit waits for release(); it records each batch. */
function slowStore() {
  const batches: MailBatch[] = []
  const waiting: Array<() => void> = []
  let onCommit: (() => void) | undefined
  const store = {
    mail: {
      commit: (batch: MailBatch): Promise<MailBatchResult> =>
        new Promise((resolve) => {
          batches.push(batch)
          waiting.push(() => resolve({ delivered: batch.delivered.map(() => true), acks: batch.acks.map(() => []), posts: batch.posts.map(() => ({ status: 'duplicate' as const })) }))
          onCommit?.()
        }),
    },
  } as unknown as AsyncStore
  return {
    store,
    batches,
    /** Resolves once a commit is waiting (at once if one is). */
    committing: () => new Promise<void>((resolve) => (waiting.length ? resolve() : (onCommit = () => { onCommit = undefined; resolve() }))),
    release: () => waiting.shift()?.(),
  }
}

const post = (i: number) => ({ kind: 'dm', messageId: `m${i}` }) as unknown as PostInput

describe('mail writer flush', () => {
  it('resolves after the commits holding what was pending at the call, while new posts keep arriving', async () => {
    const s = slowStore()
    const writer = new MailWriter(s.store, () => 1, () => undefined, new EngineEvents(), {
      delivered: () => undefined, acked: () => undefined, posted: () => undefined, committed: () => undefined,
    })
    void writer.post(post(1))
    await s.committing() // commit 1 (post 1) is in flight
    void writer.post(post(2))
    writer.ack('conn\0a', 5, async () => ({ agentId: 'agt_a', upToSeq: 5 }))
    let flushed = false
    const flush = writer.flush().then(() => (flushed = true))
    const settle = () => new Promise((r) => setImmediate(r))
    // A steady stream: one more post before every commit the store finishes.
    void writer.post(post(3))
    s.release() // commit 1 done; commit 2 takes post 2, the ack (and post 3)
    await s.committing()
    expect(s.batches[1]?.posts.map((p) => (p as unknown as { messageId: string }).messageId)).toContain('m2')
    expect(s.batches[1]?.acks).toEqual([{ agentId: 'agt_a', upToSeq: 5 }])
    void writer.post(post(4))
    s.release() // commit 2 done: everything pending at the flush is durable
    await s.committing() // commit 3 (post 4) is in flight
    await settle()
    expect(flushed).toBe(true)
    expect(writer.idle).toBe(true) // post 4 is taken by commit 3, which still waits
    void writer.post(post(5))
    await flush
    // Drain what is left so nothing dangles.
    for (let i = 0; i < 10; i++) {
      s.release()
      await settle()
    }
  })
})
