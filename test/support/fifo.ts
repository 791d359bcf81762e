import { closeSync, constants as fsc, openSync } from 'node:fs';

/**
 * Open `fifo` for writing and close it at once: a reader blocked in its open (old code under
 * test, after the test timed out) then sees end of file, so the test process can end.
 */
export function unblockFifo(fifo: string): void {
  try {
    closeSync(openSync(fifo, fsc.O_WRONLY | fsc.O_NONBLOCK));
  } catch {
    /* no reader waiting */
  }
}
