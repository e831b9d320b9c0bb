/** One measured figure from one round, with anything that makes it less than clean. */
export interface Sample {
  value: number;
  /** E.g. "3 of 2000 tunnels failed: CONNECT refused: HTTP/1.1 503". Shown in the report's problem list. */
  problem?: string;
}

/** A problem note when some of `total` operations failed, or undefined when none did. */
export function failureNote(failed: number, total: number, what: string, firstError: string | null): string | undefined {
  if (failed === 0) return undefined;
  return `${failed} of ${total} ${what} failed${firstError === null ? '' : `: ${firstError}`}`;
}

/**
 * A rate from `succeeded` operations in `seconds`, with a problem note if some failed. When none
 * succeeded the figure would be a meaningless 0, so this throws and the round counts as failed.
 */
export function rateSample(succeeded: number, failed: number, seconds: number, what: string, firstError: string | null): Sample {
  const total = succeeded + failed;
  const problem = failureNote(failed, total, what, firstError);
  if (succeeded === 0) throw new Error(problem ?? `no ${what} completed`);
  return { value: succeeded / seconds, ...(problem === undefined ? {} : { problem }) };
}
