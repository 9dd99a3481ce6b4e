// The process warnings a piece of work sets off, for tests that assert it leaks no listener.

/** Runs `run` and answers its value with the warnings emitted meanwhile (and in the turn after, when Node emits them). */
export async function warningsDuring<T>(run: () => Promise<T>): Promise<{ value: T; warnings: Error[] }> {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const value = await run();
    await new Promise((resolve) => setImmediate(resolve));
    return { value, warnings };
  } finally {
    process.off('warning', onWarning);
  }
}

/** Node's warnings of more listeners on one target than its limit: a leak, it says. */
export function listenerLeakWarnings(warnings: Error[]): Error[] {
  return warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning');
}
