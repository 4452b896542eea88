import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for the parts of GitHub a workflow step talks to, on 127.0.0.1: the REST
 * artifact endpoints (list by name, list a run's, download → 302 to a signed blob URL), the
 * runner's artifact service (Twirp: CreateArtifact, FinalizeArtifact, ListArtifacts,
 * DeleteArtifact, GetSignedArtifactURL) and blob storage (Azure block blob uploads: Put Block,
 * Put Block List, Put Blob; and GET). Artifacts live in memory from run to run.
 */
export interface StoredArtifact {
  id: number;
  name: string;
  runId: number;
  data: Buffer;
  createdAt: string;
  expired: boolean;
  /** The repository the run's head came from: differs from REPOSITORY_ID for a fork's PR. */
  headRepositoryId: number;
  headBranch: string;
  /** A size for the listing to claim instead of the true one; the blob is then sent chunked. */
  listedSize?: number;
}

export const REPOSITORY_ID = 4242;
const TWIRP = "/twirp/github.actions.results.api.v1.ArtifactService/";

export type Fault =
  | "reset"
  | { status: number; body?: string; headers?: Record<string, string>; contentType?: string };

interface Pending {
  name: string;
  runId: number;
  key: string;
}

export class GitHubServer {
  readonly artifacts = new Map<number, StoredArtifact>();
  readonly requests: { method: string; url: string; authorization: string | undefined }[] = [];
  readonly token = `ghs_${randomBytes(12).toString("hex")}`;
  /** Called after an artifact's archive was served (e.g. to let "another run" upload meanwhile). */
  afterDownload?: (id: number) => void;
  /**
   * A fault to answer a request with instead of serving it: a status with a body and headers
   * (e.g. one that echoes the token back), or "reset" to drop the connection.
   */
  fault?: (request: { method: string; path: string }) => Fault | undefined;
  /** Where the download endpoint redirects to (default: this server's blob URL for the artifact). */
  blobLocation?: (id: number) => string;
  private nextId = 1000;
  private readonly blobs = new Map<string, { blocks: Map<string, Buffer>; data?: Buffer }>();
  private readonly pending = new Map<string, Pending>();
  private server?: Server;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(JSON.stringify({ msg: String(error) }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** A runtime token (a JWT) whose claims name the run, as the runner's ACTIONS_RUNTIME_TOKEN does. */
  runtimeToken(runId: number, job = "job"): string {
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    return `${part({ alg: "none", typ: "JWT" })}.${part({ scp: `Actions.GenericRead Actions.Results:run-${runId}:${job}-${runId}` })}.sig`;
  }

  /** Puts an artifact in storage directly, as another workflow run (or an attacker's) would. */
  addArtifact(
    a: Partial<StoredArtifact> & { name: string; data: Buffer; runId: number },
  ): StoredArtifact {
    const stored: StoredArtifact = {
      id: this.nextId++,
      createdAt: new Date().toISOString(),
      expired: false,
      headRepositoryId: REPOSITORY_ID,
      headBranch: "main",
      ...a,
    };
    this.artifacts.set(stored.id, stored);
    return stored;
  }

  named(name: string): StoredArtifact[] {
    return [...this.artifacts.values()].filter((a) => a.name === name).sort((a, b) => b.id - a.id);
  }

  private rest(a: StoredArtifact) {
    return {
      id: a.id,
      node_id: `A_${a.id}`,
      name: a.name,
      size_in_bytes: a.listedSize ?? a.data.length,
      url: `${this.url}/repos/acme/widgets/actions/artifacts/${a.id}`,
      archive_download_url: `${this.url}/repos/acme/widgets/actions/artifacts/${a.id}/zip`,
      expired: a.expired,
      created_at: a.createdAt,
      updated_at: a.createdAt,
      expires_at: null,
      digest: null,
      workflow_run: {
        id: a.runId,
        repository_id: REPOSITORY_ID,
        head_repository_id: a.headRepositoryId,
        head_branch: a.headBranch,
        head_sha: "0".repeat(40),
      },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    this.requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization,
    });
    const body = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve(Buffer.concat(chunks)));
    });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    const fault = this.fault?.({ method: req.method ?? "", path: url.pathname });
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault) {
      res.writeHead(fault.status, {
        "content-type": fault.contentType ?? "application/json",
        ...fault.headers,
      });
      res.end(fault.body ?? "");
      return;
    }

    // --- REST (GITHUB_API_URL), with the job's token ---
    let m = /^\/repos\/acme\/widgets\/actions\/(?:runs\/(\d+)\/)?artifacts$/.exec(url.pathname);
    if (m && req.method === "GET") {
      if (req.headers.authorization !== `token ${this.token}`)
        return json(401, { message: "Bad credentials" });
      const name = url.searchParams.get("name");
      const perPage = Number(url.searchParams.get("per_page") ?? 30);
      const page = Number(url.searchParams.get("page") ?? 1);
      const all = [...this.artifacts.values()]
        .filter(
          (a) => (m![1] ? a.runId === Number(m![1]) : true) && (name ? a.name === name : true),
        )
        .sort((a, b) => b.id - a.id);
      return json(200, {
        total_count: all.length,
        artifacts: all.slice((page - 1) * perPage, page * perPage).map((a) => this.rest(a)),
      });
    }
    m = /^\/repos\/acme\/widgets\/actions\/artifacts\/(\d+)\/zip$/.exec(url.pathname);
    if (m && req.method === "GET") {
      if (req.headers.authorization !== `token ${this.token}`)
        return json(401, { message: "Bad credentials" });
      const a = this.artifacts.get(Number(m[1]));
      if (!a || a.expired) return json(a ? 410 : 404, { message: "Not Found" });
      res.writeHead(302, {
        location:
          this.blobLocation?.(a.id) ??
          `${this.url}/blob/download/${a.id}?sig=${randomBytes(8).toString("hex")}`,
      });
      return void res.end();
    }
    m = /^\/blob\/download\/(\d+)$/.exec(url.pathname);
    if (m && req.method === "GET") {
      const a = this.artifacts.get(Number(m[1]))!;
      res.writeHead(200, {
        "content-type": "application/zip",
        "content-disposition": `attachment; filename=${a.name}.zip`,
        // A lying listing: no length announced, the blob streams until it ends.
        ...(a.listedSize === undefined ? { "content-length": a.data.length } : {}),
      });
      res.end(a.data);
      this.afterDownload?.(a.id);
      return;
    }

    // --- Blob storage (the signed upload URL): Azure block blob uploads ---
    m = /^\/blob\/upload\/([0-9a-f]+)$/.exec(url.pathname);
    if (m && req.method === "PUT") {
      const blob = this.blobs.get(m[1]!);
      if (!blob) return json(404, {});
      const comp = url.searchParams.get("comp");
      if (comp === "block") blob.blocks.set(url.searchParams.get("blockid")!, body);
      else if (comp === "blocklist") {
        const ids = [
          ...body.toString("utf8").matchAll(/<(?:Latest|Uncommitted|Committed)>([^<]+)<\//g),
        ].map((x) => x[1]!);
        blob.data = Buffer.concat(ids.map((id) => blob.blocks.get(id)!));
      } else blob.data = body;
      res.writeHead(201, {
        etag: `"0x${randomBytes(4).toString("hex")}"`,
        "last-modified": new Date().toUTCString(),
        "x-ms-request-id": randomBytes(8).toString("hex"),
        "x-ms-version": "2025-01-05",
        "x-ms-request-server-encrypted": "true",
      });
      return void res.end();
    }

    // --- The runner's artifact service (Twirp, JSON), with the runtime token ---
    if (url.pathname.startsWith(TWIRP) && req.method === "POST") {
      const claims = parseRuntimeToken(req.headers.authorization);
      if (!claims) return json(401, { code: "unauthenticated", msg: "bad runtime token" });
      const method = url.pathname.slice(TWIRP.length);
      const input = JSON.parse(body.toString("utf8") || "{}") as Record<string, unknown>;
      const runId = Number(String(input.workflow_run_backend_id ?? "").replace(/^run-/, ""));
      if (runId !== claims.runId)
        return json(403, { code: "permission_denied", msg: "not this run" });
      const inRun = (name: string) =>
        [...this.artifacts.values()].find((a) => a.runId === runId && a.name === name);
      switch (method) {
        case "CreateArtifact": {
          const name = String(input.name);
          if (inRun(name)) {
            return json(409, {
              code: "already_exists",
              msg: `an artifact named ${name} already exists in this run`,
            });
          }
          const key = randomBytes(8).toString("hex");
          this.blobs.set(key, { blocks: new Map() });
          this.pending.set(`${runId}/${name}`, { name, runId, key });
          return json(200, {
            ok: true,
            signed_upload_url: `${this.url}/blob/upload/${key}?sig=${randomBytes(8).toString("hex")}`,
          });
        }
        case "FinalizeArtifact": {
          const p = this.pending.get(`${runId}/${String(input.name)}`);
          const data = p && this.blobs.get(p.key)?.data;
          if (!p || !data) return json(404, { code: "not_found", msg: "no upload to finalize" });
          this.pending.delete(`${runId}/${p.name}`);
          const a = this.addArtifact({ name: p.name, runId, data });
          return json(200, { ok: true, artifact_id: String(a.id) });
        }
        case "ListArtifacts": {
          const nameFilter = input.name_filter as string | undefined;
          const idFilter = input.id_filter as string | undefined;
          const list = [...this.artifacts.values()].filter(
            (a) =>
              a.runId === runId &&
              (!nameFilter || a.name === nameFilter) &&
              (!idFilter || a.id === Number(idFilter)),
          );
          return json(200, {
            artifacts: list.map((a) => ({
              workflow_run_backend_id: `run-${a.runId}`,
              workflow_job_run_backend_id: "job",
              database_id: String(a.id),
              name: a.name,
              size: String(a.data.length),
              created_at: a.createdAt,
            })),
          });
        }
        case "DeleteArtifact": {
          const a = inRun(String(input.name));
          if (!a) return json(404, { code: "not_found", msg: "no such artifact" });
          this.artifacts.delete(a.id);
          return json(200, { ok: true, artifact_id: String(a.id) });
        }
        default:
          return json(404, { code: "bad_route", msg: method });
      }
    }
    json(404, { message: `not implemented: ${req.method} ${url.pathname}` });
  }
}

function parseRuntimeToken(authorization: string | undefined): { runId: number } | undefined {
  const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
  if (!token) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as {
      scp?: string;
    };
    const m = /Actions\.Results:run-(\d+):/.exec(claims.scp ?? "");
    return m ? { runId: Number(m[1]) } : undefined;
  } catch {
    return undefined;
  }
}
