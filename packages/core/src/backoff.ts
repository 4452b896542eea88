export interface BackoffPolicy {
  base: number;
  max: number;
  /** Growth per attempt; 2 doubles the wait each time. */
  factor?: number;
  /** Up to this fraction added at random, so retries of many failures do not arrive together. */
  jitter?: number;
}

/** The wait before attempt `attempt` (1-based): base · factor^(attempt-1) plus jitter, capped at max. */
export function exponentialBackoff(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const exponential = policy.base * (policy.factor ?? 2) ** Math.max(0, attempt - 1);
  return Math.min(policy.max, Math.round(exponential * (1 + (policy.jitter ?? 0) * random())));
}
