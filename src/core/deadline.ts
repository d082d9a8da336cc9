/**
 * A signal that aborts after `ms` (reason: a TimeoutError) or when any parent aborts. Unlike
 * AbortSignal.timeout its timer keeps the process alive, so a hung await cannot end the CLI with
 * Node's "unsettled top-level await". Call `clear()` when done.
 */
export function deadline(ms: number, ...parents: (AbortSignal | undefined)[]): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const err = new Error(`timed out after ${ms} ms`);
    err.name = 'TimeoutError';
    controller.abort(err);
  }, ms);
  const live = parents.filter((p): p is AbortSignal => p !== undefined);
  const onParent = (e: Event) => controller.abort((e.target as AbortSignal).reason);
  for (const p of live) {
    if (p.aborted) controller.abort(p.reason);
    else p.addEventListener('abort', onParent, { once: true });
  }
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      for (const p of live) p.removeEventListener('abort', onParent);
    },
  };
}
