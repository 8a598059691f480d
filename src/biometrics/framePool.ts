/**
 * Admission for sign-in attempts that read camera frames (the browser palm login, a reader's
 * capture envelope): decoding, hand segmentation and feature extraction are CPU- and
 * memory-hungry, so at most `concurrency` run at once and at most `queue` wait for a turn. A
 * request beyond that is refused at once with FramePoolFullError, before its frame is read or its
 * envelope opened, so a flood costs the server a rejection each and the memory of at most
 * `concurrency` frames, and the requests already admitted keep their latency. The HTTP layer
 * answers 503 with Retry-After; nothing here knows about HTTP.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pLimit, { type LimitFunction } from 'p-limit';
import { PalmidError } from '../errors.js';

export interface FramePoolOptions {
  /** Attempts running at once (default: the CPUs available to the process). */
  concurrency?: number;
  /** Attempts waiting for a turn before new ones are refused (default DEFAULT_FRAME_QUEUE). */
  queue?: number;
}

export const DEFAULT_FRAME_QUEUE = 64;

export class FramePoolFullError extends PalmidError {
  constructor(
    /** When a retry has a fair chance: the time the attempts ahead of it need, at least 1 s. */
    readonly retryAfterSeconds: number,
  ) {
    super('the server is reading as many camera frames as it can: try again shortly', {
      code: 'temporarily_unavailable',
      status: 503,
      expose: true,
    });
  }
}

export class FramePool {
  readonly concurrency: number;
  readonly queue: number;
  private readonly limit: LimitFunction;
  /** Moving average of an attempt's duration, ms (for Retry-After). */
  private averageMs = 100;

  constructor(options: FramePoolOptions = {}) {
    this.concurrency = options.concurrency ?? os.availableParallelism();
    this.queue = options.queue ?? DEFAULT_FRAME_QUEUE;
    this.limit = pLimit(this.concurrency);
  }

  /** Attempts running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.limit.activeCount, waiting: this.limit.pendingCount };
  }

  /** No room to wait: `run` would refuse now (callers may refuse before doing any work of their own). */
  get full(): boolean {
    const { running, waiting } = this.load;
    return running + waiting >= this.concurrency + this.queue;
  }

  /** Seconds until the attempts waiting now have had their turn, at least 1. */
  get retryAfterSeconds(): number {
    const rounds = Math.ceil((this.load.waiting + 1) / this.concurrency);
    return Math.max(1, Math.ceil((rounds * this.averageMs) / 1000));
  }

  /** Runs `attempt` when a turn comes; rejects with FramePoolFullError at once when the queue is full. */
  run<T>(attempt: () => Promise<T>): Promise<T> {
    if (this.full) return Promise.reject(new FramePoolFullError(this.retryAfterSeconds));
    return this.limit(async () => {
      const t0 = performance.now();
      try {
        return await attempt();
      } finally {
        this.averageMs += (performance.now() - t0 - this.averageMs) / 16;
      }
    });
  }
}
