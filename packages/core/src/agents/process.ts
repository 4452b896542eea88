import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** What the operating system says about a process right now. */
export interface ProcessSample {
  pid: number;
  /** Identifies this process among all that ever had its pid (boot-relative start ticks on Linux). */
  startTime: string;
  /** user + system CPU time, in clock ticks (1/100 s). */
  cpuTicks: number;
  rssBytes: number;
}

const TICKS_PER_SECOND = 100;
const HAS_PROC = process.platform === "linux";

/** Reads a live process; undefined when it does not exist or is a zombie. */
export function sampleProcess(pid: number): ProcessSample | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return HAS_PROC ? sampleFromProc(pid) : sampleFromPs(pid);
}

function sampleFromProc(pid: number): ProcessSample | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are read after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const startTime = fields[19]!;
  const rssPages = Number(fields[21]);
  return { pid, startTime, cpuTicks, rssBytes: rssPages * 4096 };
}

function sampleFromPs(pid: number): ProcessSample | undefined {
  try {
    const out = execFileSync("ps", ["-o", "lstart=,time=,rss=,stat=", "-p", String(pid)], {
      encoding: "utf8",
    }).trim();
    if (!out || /\bZ/.test(out.split(/\s+/).at(-1)!)) return undefined;
    const parts = out.split(/\s+/);
    const stat = parts.pop()!;
    const rssKb = Number(parts.pop());
    const time = parts.pop()!;
    void stat;
    const [h, m, s] = time.split(":").length === 3 ? time.split(":") : ["0", ...time.split(":")];
    const seconds = Number(h) * 3600 + Number(m) * 60 + Number(s);
    return {
      pid,
      startTime: parts.join(" "),
      cpuTicks: Math.round(seconds * TICKS_PER_SECOND),
      rssBytes: rssKb * 1024,
    };
  } catch {
    return undefined;
  }
}

/** A pid is only the same process when its start time matches too (pids are reused). */
export function isSameProcess(pid: number | null, startTime: string | null): boolean {
  if (pid === null || startTime === null) return false;
  return sampleProcess(pid)?.startTime === startTime;
}

/** CPU use between two samples of one process, in percent of one core. */
export function cpuPercent(
  previousTicks: number,
  previousAt: number,
  current: ProcessSample,
  now: number,
): number {
  const elapsedSeconds = (now - previousAt) / 1000;
  if (elapsedSeconds <= 0) return 0;
  return Math.max(
    0,
    ((current.cpuTicks - previousTicks) / TICKS_PER_SECOND / elapsedSeconds) * 100,
  );
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
