/**
 * Thrown for anything git refused or could not do: a failed git command (with its arguments,
 * exit status and stderr in `details`), a ref or path that failed validation before reaching git.
 */
export class GitError extends Error {
  readonly code = "GitError";
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "GitError";
  }
}
