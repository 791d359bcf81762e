import type { FileHandle } from 'node:fs/promises';

/** How much is written between two background flushes. */
const SYNC_EVERY = 64 << 20;

/**
 * Flushes a file to disk behind its writer: after every SYNC_EVERY bytes written, one
 * `fdatasync` starts in the background (never two at once) while the writes go on. The final
 * `sync()` then only waits for the tail. Without it, a bundle's whole content sits dirty in the
 * page cache (far below the kernel's own writeback threshold on a big machine) and the final
 * fsync writes it all while nothing else happens: measured 0.24 s of a 545 MB create's 1.6 s,
 * against 0.05 s with this.
 *
 * A background flush that fails is reported by `sync()`: the file is not called durable.
 */
export class SyncBehind {
  private since = 0;
  private flushing?: Promise<void>;
  private failed?: unknown;

  constructor(
    private readonly fh: FileHandle,
    private readonly every = SYNC_EVERY,
  ) {}

  /** Note `n` bytes written; may start a background flush. */
  wrote(n: number): void {
    this.since += n;
    if (this.since < this.every || this.flushing) return;
    this.since = 0;
    this.flushing = this.fh
      .datasync()
      .catch((err: unknown) => {
        this.failed ??= err;
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  /** Everything written is on disk (data and metadata), or the first flush error is thrown. */
  async sync(): Promise<void> {
    await this.flushing;
    if (this.failed) throw this.failed;
    await this.fh.sync();
  }

  /** Wait out a background flush (before closing the file on an error path). */
  async settle(): Promise<void> {
    await this.flushing;
  }
}
