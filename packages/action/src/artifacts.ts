import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { DefaultArtifactClient } from "@actions/artifact";
import { getOctokit } from "@actions/github";

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
  /** Uploaded by a run of a fork's pull request: never trusted with the database. */
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
  /** Downloads the artifact's archive, not extracted, into `dir`; returns the file's path. */
  download(artifact: ArtifactRef, dir: string): Promise<string>;
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
    fromFork:
      run?.head_repository_id !== undefined &&
      run.repository_id !== undefined &&
      run.head_repository_id !== run.repository_id,
    headBranch: run?.head_branch ?? undefined,
  };
}

const PER_PAGE = 100;
/** Pages read from a run's artifact list (matrix journals): 1,000 artifacts. */
const MAX_RUN_PAGES = 10;

/**
 * GitHub: lists through the REST API (GITHUB_API_URL, the job's token), downloads through
 * @actions/artifact's download-by-id with `findBy` (REST, then the signed blob URL), uploads and
 * deletes through @actions/artifact's client (the runner's artifact service:
 * ACTIONS_RUNTIME_TOKEN, ACTIONS_RESULTS_URL).
 */
export class GitHubArtifactStore implements ArtifactStore {
  private readonly octokit;
  private readonly client = new DefaultArtifactClient();

  constructor(
    private readonly token: string,
    private readonly owner: string,
    private readonly repo: string,
  ) {
    this.octokit = getOctokit(token);
  }

  async listByName(name: string): Promise<ArtifactRef[]> {
    const page = async (n: number) =>
      (
        await this.octokit.request("GET /repos/{owner}/{repo}/actions/artifacts", {
          owner: this.owner,
          repo: this.repo,
          name,
          per_page: PER_PAGE,
          page: n,
        })
      ).data as { total_count: number; artifacts: RestArtifact[] };
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
      const { data } = await this.octokit.request(
        "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
        { owner: this.owner, repo: this.repo, run_id: runId, per_page: PER_PAGE, page: n },
      );
      const artifacts = (data as { artifacts: RestArtifact[] }).artifacts;
      found.push(...artifacts.map(fromRest));
      if (artifacts.length < PER_PAGE) break;
    }
    return found;
  }

  async download(artifact: ArtifactRef, dir: string): Promise<string> {
    if (artifact.runId === undefined)
      throw new Error(`artifact ${artifact.id} has no workflow run`);
    await this.client.downloadArtifact(artifact.id, {
      path: dir,
      skipDecompress: true,
      findBy: {
        token: this.token,
        workflowRunId: artifact.runId,
        repositoryOwner: this.owner,
        repositoryName: this.repo,
      },
    });
    const files = readdirSync(dir);
    if (files.length !== 1) {
      throw new Error(`downloading artifact ${artifact.id} left ${files.length} files, expected 1`);
    }
    return join(dir, files[0]!);
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
