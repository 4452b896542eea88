import { invalidInput } from "../errors.js";
import { requireWellFormed } from "../input.js";

/** Largest message content, in UTF-8 bytes. */
export const MAX_CONTENT_BYTES = 256 * 1024;
/** Deepest nesting of arrays and objects in a content document. */
export const MAX_CONTENT_DEPTH = 100;

/**
 * Checks that `text` is one JSON document within the size and nesting limits, and returns it
 * parsed. The stored form is the text as given.
 */
export function validateContent(text: string): unknown {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_CONTENT_BYTES) {
    throw invalidInput(
      `--content is ${bytes} bytes; the limit is ${MAX_CONTENT_BYTES} bytes (256 KiB). Write large data to a file in the worktree and send its path instead`,
      { reason: "content_too_large", bytes, limit: MAX_CONTENT_BYTES },
    );
  }
  const depth = nestingDepth(text);
  if (depth > MAX_CONTENT_DEPTH) {
    throw invalidInput(
      `--content nests arrays and objects ${depth} levels deep; the limit is ${MAX_CONTENT_DEPTH}`,
      { reason: "content_too_deep", depth, limit: MAX_CONTENT_DEPTH },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalidInput(
      `--content is not valid JSON (${(error as Error).message}); pass one JSON document, quoted for the shell, e.g. --content '{"task_id":"auth-api"}'`,
      { reason: "content_not_json" },
    );
  }
  requireWellFormed(parsed, "--content");
  return parsed;
}

/** How deeply `[` and `{` nest outside strings: linear, no recursion, no parse. */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}
