import { PLAIN, plural, type Style, safeJson, safeText, shorten, table } from "../render.js";
import type {
  AcknowledgeResult,
  FailResult,
  ListResult,
  PollResult,
  RetryResult,
  SendResult,
} from "./index.js";

/** Content on one line, made safe to print (hostile text shows as escapes). */
function contentLine(content: unknown, max = 200): string {
  return safeText(shorten(safeJson(content), max));
}

export function renderSend(result: SendResult): string {
  return `Sent message ${result.message_id}`;
}

export function renderPoll(result: PollResult, style: Style = PLAIN): string {
  if (result.messages.length === 0) return "No messages";
  const out = [style.bold(`Received ${plural(result.messages.length, "message")}`)];
  for (const m of result.messages) {
    out.push(
      "",
      `${style.bold(`#${m.message_id}`)} ${safeText(m.type)} from ${safeText(m.from)} to ${safeText(m.to)} ${style.dim(`(attempt ${m.attempt})`)}`,
      `  receipt: ${m.receipt}`,
      `  content: ${contentLine(m.content, 2_000)}`,
    );
  }
  out.push(
    "",
    style.dim(
      "Acknowledge each with `orchestrator route acknowledge --message-id ID --receipt R` before its lease ends.",
    ),
  );
  return out.join("\n");
}

export function renderAcknowledge(result: AcknowledgeResult): string {
  return `Message ${result.message_id} ${result.status}`;
}

export function renderFail(result: FailResult, style: Style = PLAIN): string {
  if (result.status === "pending") {
    return `Message ${result.message_id} will be delivered again at ${result.next_attempt_at} (attempt ${result.attempts} of ${result.max_attempts} failed)`;
  }
  if (result.status === "expired") {
    return `Message ${result.message_id} ${style.status("expired")}; its sender was told`;
  }
  return `Message ${result.message_id} ${style.status("failed")} after ${plural(result.attempts, "attempt")}: kept as a dead letter; its sender was told. Put it back with \`orchestrator route retry --message-id ${result.message_id}\``;
}

export function renderRetry(result: RetryResult): string {
  return `Message ${result.message_id} is ${result.status} again, with fresh attempts`;
}

export function renderList(result: ListResult, style: Style = PLAIN): string {
  if (result.messages.length === 0) return "No messages";
  return table(
    result.messages,
    [
      { header: "ID", value: (m) => String(m.message_id) },
      { header: "STATUS", value: (m) => m.status, style: (cell) => style.status(cell) },
      { header: "TRIES", value: (m) => `${m.attempts}/${m.max_attempts}` },
      { header: "FROM", value: (m) => m.from, max: 24 },
      { header: "TO", value: (m) => (m.to_kind === "agent" ? m.to : `${m.to} (type)`), max: 32 },
      { header: "TYPE", value: (m) => m.type, max: 24 },
      { header: "CREATED", value: (m) => m.created_at.replace("T", " ").slice(0, 19) },
      {
        header: "CONTENT / LAST ERROR",
        value: (m) =>
          m.status === "failed" || m.status === "expired"
            ? (m.last_error ?? "")
            : JSON.stringify(m.content),
        max: 60,
      },
    ],
    style,
  );
}
