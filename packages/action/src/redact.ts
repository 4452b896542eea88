/**
 * Keeps secrets (the github-token) out of everything the step writes: the log, annotations,
 * outputs and the job summary. The runner masks registered secrets in the log only; GITHUB_OUTPUT
 * and the job summary are files it does not mask, and a server may echo the token back inside an
 * error message. So every text the action writes passes through `redact` first, and the process's
 * own stdout and stderr are filtered too (libraries log through them directly).
 */
export const REDACTED = "***";

/** The forms a secret may take in text: as is, URI-, JSON- and base64-encoded. */
function forms(secret: string): string[] {
  const all = new Set<string>([
    secret,
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
    Buffer.from(secret, "utf8").toString("base64").replace(/=+$/, ""),
    Buffer.from(secret, "utf8").toString("base64url"),
  ]);
  // Longest first, so a longer form is never left half-replaced by a shorter one.
  return [...all].filter((f) => f.length >= 4).sort((a, b) => b.length - a.length);
}

export class Redactor {
  private readonly patterns: string[] = [];

  /** Adds a secret; too-short values (under 8 characters) would redact ordinary text and are refused. */
  add(secret: string): void {
    if (secret.length < 8) return;
    for (const f of forms(secret)) if (!this.patterns.includes(f)) this.patterns.push(f);
    this.patterns.sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.patterns.length > 0;
  }

  text(value: string): string {
    let out = value;
    for (const p of this.patterns) if (out.includes(p)) out = out.split(p).join(REDACTED);
    return out;
  }

  /** A deep copy of a JSON-like value with every string (keys included) redacted. */
  value<T>(value: T): T {
    if (!this.active) return value;
    return this.walk(value, 0) as T;
  }

  private walk(value: unknown, depth: number): unknown {
    if (typeof value === "string") return this.text(value);
    if (value === null || typeof value !== "object" || depth > 200) return value;
    if (Array.isArray(value)) return value.map((v) => this.walk(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[this.text(k)] = this.walk(v, depth + 1);
    return out;
  }

  /**
   * Filters a stream's writes (process.stdout, process.stderr) through `text`, except the runner's
   * own `::add-mask::` command, which must carry the secret to register it.
   */
  filter(stream: NodeJS.WriteStream): void {
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (!this.active) return write(chunk, ...rest);
      const text =
        typeof chunk === "string"
          ? chunk
          : chunk instanceof Uint8Array
            ? Buffer.from(chunk).toString("utf8")
            : undefined;
      if (text === undefined || text.startsWith("::add-mask::")) return write(chunk, ...rest);
      return write(this.text(text), ...rest);
    }) as typeof stream.write;
  }
}

/**
 * Variables a process started by the command (an agent, git) must not inherit: the inputs (the
 * token among them) and the runner's tokens for its artifact, cache and OIDC services.
 */
const RUNNER_SECRETS =
  /^(INPUT_.*|ACTIONS_RUNTIME_TOKEN|ACTIONS_RUNTIME_URL|ACTIONS_RESULTS_URL|ACTIONS_CACHE_URL|ACTIONS_ID_TOKEN_REQUEST_TOKEN|ACTIONS_ID_TOKEN_REQUEST_URL)$/;

/**
 * Runs `fn` with the runner's secrets removed from process.env (children copy it when they
 * start), then puts them back for the action's own uploads.
 */
export async function withoutRunnerSecrets<T>(fn: () => Promise<T>): Promise<T> {
  const saved: [string, string][] = [];
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && RUNNER_SECRETS.test(key)) {
      saved.push([key, value]);
      delete process.env[key];
    }
  }
  try {
    return await fn();
  } finally {
    for (const [key, value] of saved) process.env[key] = value;
  }
}
