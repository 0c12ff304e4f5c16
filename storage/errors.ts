/**
 * Errors with stable codes. Callers switch on `code`, never on the message.
 *
 * `STORAGE_INVARIANT` is a bug in the caller or in storage (a broken contract, e.g. a non-contiguous
 * append): it is thrown, never returned, because carrying on could write a wrong log.
 */
type StorageErrorCode = 'STORAGE_INVARIANT' | 'STORAGE_FAILED' | 'STORAGE_CLOSED' | 'STORAGE_BAD_DIR';

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.code = code;
  }
}

/** Throws STORAGE_INVARIANT when `ok` is false. */
export function invariant(ok: boolean, message: string): asserts ok {
  if (!ok) throw new StorageError('STORAGE_INVARIANT', message);
}

/** Wraps a failed I/O callback error so the code (EIO, ENOSPC, ...) survives and the step is named. */
export function ioError(step: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const wrapped = new Error(`${step}: ${err.message}`, { cause: err }) as NodeJS.ErrnoException;
  if (code !== undefined) wrapped.code = code;
  return wrapped;
}
