import { createWriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DefaultArtifactClient } from "@actions/artifact";
import { getOctokit } from "@actions/github";
import { shorten } from "@orchestrator/core";
import { Redactor } from "./redact.js";

/** One workflow artifact as the REST API lists it. */
export interface ArtifactRef {
  id: number;
  name: string;
  /** Size of the stored archive in bytes. */
  size: number;
  createdAt: string;
  expired: boolean;
  /** The workflow run that uploaded it. */
  runId: number | undefined;
  /**
   * Uploaded by a run of a fork's pull request, or by a run whose origin the listing does not
   * say: never trusted with the database or a journal.
   */
  fromFork: boolean;
  headBranch: string | undefined;
}

/**
 * What the action needs from GitHub's artifact storage. The real implementation is
 * GitHubArtifactStore; the tests run it (inside the bundled action) against a local server.
 */
export interface ArtifactStore {
  /** Artifacts of this repository with exactly this name, from any run. */
  listByName(name: string): Promise<ArtifactRef[]>;
  /** Every artifact of one workflow run. */
  listRun(runId: number): Promise<ArtifactRef[]>;
  /**
   * Downloads the artifact's archive, not extracted, into `dir`; returns the file's path. Stops
   * with a SizeLimitError as soon as more than `maxBytes` arrived.
   */
  download(artifact: ArtifactRef, dir: string, maxBytes: number): Promise<string>;
  /** Uploads one file (zipped) as an artifact of the current run. */
  upload(name: string, file: string, retentionDays: number): Promise<{ id: number; size: number }>;
  /** Deletes the artifact with this name that the current run uploaded. */
  deleteFromCurrentRun(name: string): Promise<void>;
}

interface RestArtifact {
  id: number;
  name: string;
  size_in_bytes: number;
  created_at: string | null;
  expired: boolean;
  workflow_run?: {
    id?: number;
    repository_id?: number;
    head_repository_id?: number;
    head_branch?: string | null;
  } | null;
}

export function fromRest(a: RestArtifact): ArtifactRef {
  const run = a.workflow_run ?? undefined;
  return {
    id: a.id,
    name: a.name,
    size: a.size_in_bytes,
    createdAt: a.created_at ?? "",
    expired: a.expired,
    runId: run?.id,
    // Fails closed: without both repository ids the artifact's origin is unknown.
    fromFork: !(
      typeof run?.head_repository_id === "number" &&
      typeof run.repository_id === "number" &&
      run.head_repository_id === run.repository_id
    ),
    headBranch: run?.head_branch ?? undefined,
  };
}

/** A download that passed its size limit: it was stopped, and the partial file is not used. */
export class SizeLimitError extends Error {
  override name = "SizeLimitError";
}

/**
 * An error of GitHub's API or blob storage, said in our words: what was asked, the HTTP status
 * and the server's own message, with `clean` (the redaction of the token, which a server may echo)
 * applied before anything is shortened.
 */
export function apiError(
  what: string,
  error: unknown,
  clean: (text: string) => string = (text) => text,
): Error {
  const e = error as { status?: unknown; message?: unknown; cause?: unknown };
  const status = typeof e?.status === "number" ? e.status : undefined;
  // Redacted before it is shortened: a cut through the token would leave a piece no filter knows.
  const message = clean(typeof e?.message === "string" ? e.message : String(error));
  const cause =
    e?.cause instanceof Error && clean(e.cause.message) !== message
      ? ` (${shorten(clean(e.cause.message), 200)})`
      : "";
  const hint =
    status === 401
      ? "; the github-token is invalid or expired"
      : status === 403 || status === 404
        ? "; the github-token needs `actions: read` on this repository"
        : "";
  return new Error(
    `${what} failed: ${status === undefined ? "" : `GitHub answered ${status}: `}${shorten(message, 500)}${cause}${hint}`,
  );
}

const PER_PAGE = 100;
/** Pages read from a run's artifact list (matrix journals): 1,000 artifacts. */
const MAX_RUN_PAGES = 10;

/**
 * GitHub: lists through the REST API (GITHUB_API_URL, the job's token), downloads through the
 * REST download endpoint (a redirect) and then the signed blob URL, without the token and within
 * a size limit; uploads and deletes through @actions/artifact's client (the runner's artifact service:
 * ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL).
 */
export class GitHubArtifactStore implements ArtifactStore {
  private readonly octokit;
  private readonly client = new DefaultArtifactClient();
  private readonly redactor = new Redactor();

  constructor(
    token: string,
    private readonly owner: string,
    private readonly repo: string,
  ) {
    this.octokit = getOctokit(token);
    this.redactor.add(token);
  }

  private error(what: string, error: unknown): Error {
    return apiError(what, error, (text) => this.redactor.text(text));
  }

  async listByName(name: string): Promise<ArtifactRef[]> {
    const page = async (n: number) => {
      try {
        const { data } = await this.octokit.request("GET /repos/{owner}/{repo}/actions/artifacts", {
          owner: this.owner,
          repo: this.repo,
          name,
          per_page: PER_PAGE,
          page: n,
        });
        return data as { total_count: number; artifacts: RestArtifact[] };
      } catch (error) {
        throw this.error(`listing the artifacts named ${name}`, error);
      }
    };
    const first = await page(1);
    const found = first.artifacts.map(fromRest);
    // GitHub lists the newest first. Should that order ever flip, the newest would be on the last
    // page: read it too, so the newest is always among what we compare.
    const pages = Math.ceil(first.total_count / PER_PAGE);
    if (pages > 1) found.push(...(await page(pages)).artifacts.map(fromRest));
    return found;
  }

  async listRun(runId: number): Promise<ArtifactRef[]> {
    const found: ArtifactRef[] = [];
    for (let n = 1; n <= MAX_RUN_PAGES; n++) {
      let data: unknown;
      try {
        ({ data } = await this.octokit.request(
          "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
          { owner: this.owner, repo: this.repo, run_id: runId, per_page: PER_PAGE, page: n },
        ));
      } catch (error) {
        throw this.error(`listing the artifacts of run ${runId}`, error);
      }
      const artifacts = (data as { artifacts: RestArtifact[] }).artifacts;
      found.push(...artifacts.map(fromRest));
      if (artifacts.length < PER_PAGE) break;
    }
    return found;
  }

  /**
   * GET …/artifacts/{id}/zip answers with a redirect to a signed blob URL; the archive is fetched
   * from there without the token (it is never sent to blob storage), streamed to disk and cut off
   * past `maxBytes`, so an archive bigger than announced cannot fill the disk.
   */
  async download(artifact: ArtifactRef, dir: string, maxBytes: number): Promise<string> {
    const what = `downloading artifact ${artifact.id}`;
    let location: string | undefined;
    try {
      const response = await this.octokit.request(
        "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
        {
          owner: this.owner,
          repo: this.repo,
          artifact_id: artifact.id,
          archive_format: "zip",
          request: { redirect: "manual" },
        },
      );
      location = response.headers.location;
      if (response.status !== 302 || !location) {
        throw Object.assign(new Error("expected a redirect to the archive"), {
          status: response.status,
        });
      }
    } catch (error) {
      throw this.error(what, error);
    }
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new Error(`${what} failed: GitHub redirected to an invalid URL`);
    }
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
      throw new Error(`${what} failed: GitHub redirected to a ${url.protocol} URL, not https`);
    }
    let response: Response;
    try {
      response = await fetch(url, { redirect: "error", signal: AbortSignal.timeout(300_000) });
    } catch (error) {
      throw new Error(`${what} failed: blob storage: ${(error as Error).message}`);
    }
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel();
      throw new Error(`${what} failed: blob storage answered ${response.status}`);
    }
    const announced = Number(response.headers.get("content-length"));
    if (Number.isFinite(announced) && announced > maxBytes) {
      await response.body.cancel();
      throw new SizeLimitError(
        `artifact ${artifact.id} is ${announced} bytes, above the limit of ${maxBytes}`,
      );
    }
    const file = join(dir, "artifact.zip");
    let received = 0;
    const limited = async function* (body: AsyncIterable<Uint8Array>) {
      for await (const chunk of body) {
        received += chunk.length;
        if (received > maxBytes) {
          throw new SizeLimitError(
            `artifact ${artifact.id} sent more than the limit of ${maxBytes} bytes; download stopped`,
          );
        }
        yield chunk;
      }
    };
    try {
      await pipeline(
        response.body as unknown as AsyncIterable<Uint8Array>,
        limited,
        createWriteStream(file, { mode: 0o600 }),
      );
    } catch (error) {
      if (error instanceof SizeLimitError) throw error;
      throw new Error(`${what} failed: blob storage: ${(error as Error).message}`);
    }
    return file;
  }

  async upload(name: string, file: string, retentionDays: number) {
    const result = await this.client.uploadArtifact(name, [file], dirname(file), {
      retentionDays,
      compressionLevel: 6,
    });
    if (result.id === undefined) throw new Error(`the upload of ${name} returned no artifact id`);
    return { id: result.id, size: result.size ?? 0 };
  }

  async deleteFromCurrentRun(name: string): Promise<void> {
    await this.client.deleteArtifact(name);
  }
}
