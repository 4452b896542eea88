import { parseDuration } from "@orchestrator/core";
import { InvalidArgumentError } from "commander";

/** A whole number option value, e.g. --max-parallel 3. */
export function wholeNumber(min: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) {
      throw new InvalidArgumentError(`expected a whole number, got ${JSON.stringify(value)}`);
    }
    const n = Number(value);
    if (n < min) throw new InvalidArgumentError(`must be at least ${min}, got ${n}`);
    return n;
  };
}

/** A comma-separated list option value, e.g. --task-ids a,b,c. */
export function commaList(value: string): string[] {
  return value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

export function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!allowed.includes(value as T)) {
      throw new InvalidArgumentError(
        `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
      );
    }
    return value as T;
  };
}

/** A duration option value, e.g. --lease 60s, --ttl 24h; milliseconds. */
export function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new InvalidArgumentError(
      `expected a duration such as 500ms, 30s, 5m, 24h or 1d, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}
