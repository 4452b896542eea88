import {
  acknowledgeMessage,
  failMessage,
  invalidInput,
  listMessages,
  MESSAGE_PRIORITIES,
  type MessagePriority,
  pollMessages,
  renderAcknowledge,
  renderFail,
  renderMessageList,
  renderPoll,
  renderRetry,
  renderSend,
  retryMessage,
  sendMessage,
  waitForMessages,
} from "@orchestrator/core";
import { MESSAGE_STATUSES, type MessageStatus } from "@orchestrator/db";
import type { Command } from "commander";
import { ioOf } from "../io.js";
import { execute } from "../output.js";
import { duration, oneOf, wholeNumber } from "../parse.js";

const PRIORITIES = Object.keys(MESSAGE_PRIORITIES) as MessagePriority[];

/** The agent running this command, as the orchestrator's spawner sets it. */
function selfAgentId(cmd: Command, flag: string): string {
  const id = (ioOf(cmd).env ?? process.env).ORCHESTRATOR_AGENT_ID;
  if (id === undefined || id === "") {
    throw invalidInput(`${flag} is required (or run inside an agent, with ORCHESTRATOR_AGENT_ID)`);
  }
  return id;
}

/** --content as given, or read from standard input with `--content -`. */
async function readContent(value: string): Promise<string> {
  if (value !== "-") return value;
  // Streamed: a synchronous read of a non-blocking pipe fails with EAGAIN.
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

interface SendFlags {
  from?: string;
  to: string;
  type: string;
  content: string;
  priority?: MessagePriority;
  ttl?: number;
  idempotencyKey?: string;
}

interface PollFlags {
  target?: string;
  limit?: number;
  lease?: number;
  wait?: number;
}

export function registerRoute(program: Command): void {
  const route = program
    .command("route")
    .description(
      "durable messages between agents: send, poll, acknowledge, fail, list, retry (at-least-once, with leases, retries and dead letters)",
    );

  route
    .command("send")
    .description("store a message for an agent id (one incarnation) or an agent type")
    .option("--from <sender>", "the sending agent id or type (default: $ORCHESTRATOR_AGENT_ID)")
    .requiredOption("--to <recipient>", "an agent id, or an agent type (any agent of it)")
    .requiredOption(
      "--type <type>",
      "task_assignment, status_update, dependency_ready, error_notification, quality_report, spec_ready, or a custom type",
    )
    .requiredOption("--content <json>", "one JSON document, at most 256 KiB; - reads stdin")
    .option(`--priority <level>`, `${PRIORITIES.join(", ")} (default normal)`, oneOf(PRIORITIES))
    .option("--ttl <duration>", "expire if not acknowledged within this (default 24h)", duration)
    .option(
      "--idempotency-key <key>",
      "the same key from the same sender stores one message, not two",
    )
    .addHelpText(
      "after",
      `\nExample:\n  $ orchestrator route send --from architect --to code_developer --type spec_ready \\\n      --content '{"task_id":"auth-api"}' --priority high --idempotency-key spec-auth-api`,
    )
    .action(async (flags: SendFlags, cmd: Command) => {
      await execute(
        "route send",
        cmd,
        async (o) =>
          sendMessage(o, {
            from: flags.from ?? selfAgentId(cmd, "--from"),
            to: flags.to,
            type: flags.type,
            content: await readContent(flags.content),
            ...(flags.priority !== undefined ? { priority: flags.priority } : {}),
            ...(flags.ttl !== undefined ? { ttl: flags.ttl } : {}),
            ...(flags.idempotencyKey !== undefined ? { idempotencyKey: flags.idempotencyKey } : {}),
          }),
        renderSend,
      );
    });

  route
    .command("poll")
    .description(
      "receive up to --limit messages for an agent id (its own and its type's) or a type, each leased with a receipt",
    )
    .option("--target <recipient>", "agent id or agent type (default: $ORCHESTRATOR_AGENT_ID)")
    .option("--limit <n>", "most messages to receive (1-1000, default 10)", wholeNumber(1))
    .option("--lease <duration>", "time to acknowledge each message (default 60s)", duration)
    .option(
      "--wait <duration>",
      "if none is waiting, wait up to this long for one to arrive (long poll)",
      duration,
    )
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator route poll --target code_developer --limit 10 --lease 60s --wait 30s --json",
    )
    .action(async (flags: PollFlags, cmd: Command) => {
      await execute(
        "route poll",
        cmd,
        (o) => {
          const options = {
            target: flags.target ?? selfAgentId(cmd, "--target"),
            ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
            ...(flags.lease !== undefined ? { lease: flags.lease } : {}),
          };
          return flags.wait !== undefined && flags.wait > 0
            ? waitForMessages(o, { ...options, wait: flags.wait })
            : pollMessages(o, options);
        },
        renderPoll,
      );
    });

  route
    .command("acknowledge")
    .alias("ack")
    .description("confirm a delivered message was handled (idempotent; needs the current receipt)")
    .requiredOption("--message-id <id>", "the message", wholeNumber(1))
    .requiredOption("--receipt <receipt>", "the receipt poll returned with it")
    .addHelpText(
      "after",
      "\nExample:\n  $ orchestrator route acknowledge --message-id 42 --receipt 9f1c0e…",
    )
    .action(async (flags: { messageId: number; receipt: string }, cmd: Command) => {
      await execute(
        "route acknowledge",
        cmd,
        (o) => acknowledgeMessage(o, { messageId: flags.messageId, receipt: flags.receipt }),
        renderAcknowledge,
      );
    });

  route
    .command("fail")
    .description(
      "the receiver could not handle a delivered message: deliver it again later, or dead-letter it on its last attempt",
    )
    .requiredOption("--message-id <id>", "the message", wholeNumber(1))
    .requiredOption("--reason <text>", "what went wrong (kept with the message)")
    .option("--receipt <receipt>", "only fail it if this delivery still holds the lease")
    .addHelpText(
      "after",
      '\nExample:\n  $ orchestrator route fail --message-id 42 --receipt 9f1c0e… --reason "spec file missing"',
    )
    .action(
      async (flags: { messageId: number; reason: string; receipt?: string }, cmd: Command) => {
        await execute(
          "route fail",
          cmd,
          (o) =>
            failMessage(o, {
              messageId: flags.messageId,
              reason: flags.reason,
              ...(flags.receipt !== undefined ? { receipt: flags.receipt } : {}),
            }),
          renderFail,
        );
      },
    );

  route
    .command("list")
    .description("inspect messages, newest last, including dead letters (--status failed)")
    .option(
      "--status <status>",
      `only this status (${MESSAGE_STATUSES.join(", ")})`,
      oneOf(MESSAGE_STATUSES),
    )
    .option("--target <recipient>", "only messages addressed to this agent id or type")
    .option("--from <sender>", "only messages from this sender")
    .option("--limit <n>", "the newest n (default 100)", wholeNumber(1))
    .addHelpText("after", "\nExample:\n  $ orchestrator route list --status failed --json")
    .action(
      async (
        flags: { status?: MessageStatus; target?: string; from?: string; limit?: number },
        cmd: Command,
      ) => {
        await execute("route list", cmd, (o) => listMessages(o, flags), renderMessageList);
      },
    );

  route
    .command("retry")
    .description("put a dead letter (failed) or expired message back to pending, fresh attempts")
    .requiredOption("--message-id <id>", "the message", wholeNumber(1))
    .addHelpText("after", "\nExample:\n  $ orchestrator route retry --message-id 42")
    .action(async (flags: { messageId: number }, cmd: Command) => {
      await execute(
        "route retry",
        cmd,
        (o) => retryMessage(o, { messageId: flags.messageId }),
        renderRetry,
      );
    });
}
