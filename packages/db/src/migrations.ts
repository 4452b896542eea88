/**
 * Numbered schema migrations. `PRAGMA user_version` holds the number of the last one applied.
 * A released migration is never edited: a change is a new entry at the end.
 *
 * Times are integer milliseconds since the Unix epoch. Tables are STRICT.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: every table of the design.
  `
  CREATE TABLE specs_task (
    task_id             TEXT PRIMARY KEY NOT NULL,
    title               TEXT NOT NULL,
    priority_id         TEXT,
    priority            INTEGER NOT NULL DEFAULT 100,
    agent_type          TEXT NOT NULL,
    files               TEXT,
    status              TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                          ('pending','assigned','in_progress','review','completed','failed','conflict','cancelled')),
    unfinished_blockers INTEGER NOT NULL DEFAULT 0 CHECK (unfinished_blockers >= 0),
    critical_path       INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    status_reason       TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    completed_at        INTEGER
  ) STRICT;

  -- The ready set, already in assignment order: priority, then the longest chain waiting on
  -- the task, then id. Kept by SQLite itself as rows change status or blocker count.
  CREATE INDEX specs_task_ready ON specs_task (priority, critical_path DESC, task_id)
    WHERE status = 'pending' AND unfinished_blockers = 0;
  CREATE INDEX specs_task_ready_by_group ON specs_task (priority_id, priority, critical_path DESC, task_id)
    WHERE status = 'pending' AND unfinished_blockers = 0;
  CREATE INDEX specs_task_status ON specs_task (status);

  CREATE TABLE specs_task_dependency (
    blocking_task_id  TEXT NOT NULL REFERENCES specs_task (task_id),
    dependent_task_id TEXT NOT NULL REFERENCES specs_task (task_id),
    PRIMARY KEY (blocking_task_id, dependent_task_id),
    CHECK (blocking_task_id <> dependent_task_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX specs_task_dependency_dependent
    ON specs_task_dependency (dependent_task_id, blocking_task_id);

  -- How many tasks stand in each (status, blocked) bucket: O(1) counts for assign and reports.
  CREATE TABLE specs_task_count (
    status  TEXT NOT NULL,
    blocked INTEGER NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (status, blocked)
  ) STRICT, WITHOUT ROWID;

  -- unfinished_blockers = number of blockers whose status is not 'completed'. These triggers are
  -- the only code that maintains it, so no write path can forget to.
  CREATE TRIGGER specs_task_dependency_added AFTER INSERT ON specs_task_dependency
  WHEN (SELECT status FROM specs_task WHERE task_id = NEW.blocking_task_id) <> 'completed'
  BEGIN
    UPDATE specs_task SET unfinished_blockers = unfinished_blockers + 1
     WHERE task_id = NEW.dependent_task_id;
  END;

  CREATE TRIGGER specs_task_dependency_removed AFTER DELETE ON specs_task_dependency
  WHEN (SELECT status FROM specs_task WHERE task_id = OLD.blocking_task_id) <> 'completed'
  BEGIN
    UPDATE specs_task SET unfinished_blockers = unfinished_blockers - 1
     WHERE task_id = OLD.dependent_task_id;
  END;

  CREATE TRIGGER specs_task_completed AFTER UPDATE OF status ON specs_task
  WHEN NEW.status = 'completed' AND OLD.status <> 'completed'
  BEGIN
    UPDATE specs_task SET unfinished_blockers = unfinished_blockers - 1
     WHERE task_id IN (SELECT dependent_task_id FROM specs_task_dependency
                        WHERE blocking_task_id = NEW.task_id);
  END;

  CREATE TRIGGER specs_task_reopened AFTER UPDATE OF status ON specs_task
  WHEN OLD.status = 'completed' AND NEW.status <> 'completed'
  BEGIN
    UPDATE specs_task SET unfinished_blockers = unfinished_blockers + 1
     WHERE task_id IN (SELECT dependent_task_id FROM specs_task_dependency
                        WHERE blocking_task_id = NEW.task_id);
  END;

  CREATE TRIGGER specs_task_count_insert AFTER INSERT ON specs_task
  BEGIN
    INSERT INTO specs_task_count (status, blocked, n)
    VALUES (NEW.status, NEW.unfinished_blockers > 0, 1)
    ON CONFLICT (status, blocked) DO UPDATE SET n = n + 1;
  END;

  CREATE TRIGGER specs_task_count_update AFTER UPDATE OF status, unfinished_blockers ON specs_task
  WHEN OLD.status <> NEW.status OR (OLD.unfinished_blockers > 0) <> (NEW.unfinished_blockers > 0)
  BEGIN
    UPDATE specs_task_count SET n = n - 1
     WHERE status = OLD.status AND blocked = (OLD.unfinished_blockers > 0);
    INSERT INTO specs_task_count (status, blocked, n)
    VALUES (NEW.status, NEW.unfinished_blockers > 0, 1)
    ON CONFLICT (status, blocked) DO UPDATE SET n = n + 1;
  END;

  CREATE TRIGGER specs_task_count_delete AFTER DELETE ON specs_task
  BEGIN
    UPDATE specs_task_count SET n = n - 1
     WHERE status = OLD.status AND blocked = (OLD.unfinished_blockers > 0);
  END;

  -- One row per assignment attempt of a task.
  CREATE TABLE orchestrator_task (
    id            INTEGER PRIMARY KEY,
    task_id       TEXT NOT NULL REFERENCES specs_task (task_id),
    agent_type    TEXT NOT NULL,
    agent_id      TEXT,
    status        TEXT NOT NULL CHECK (status IN
                    ('assigned','in_progress','review','conflict','completed','failed','cancelled')),
    worktree_path TEXT,
    branch        TEXT,
    assigned_at   INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    updated_at    INTEGER NOT NULL
  ) STRICT;
  -- At most one unfinished attempt per task: a second assignment cannot be written.
  CREATE UNIQUE INDEX orchestrator_task_one_active ON orchestrator_task (task_id)
    WHERE status IN ('assigned','in_progress','review','conflict');
  CREATE INDEX orchestrator_task_by_task ON orchestrator_task (task_id, id);

  -- One row per agent incarnation. A restart is a new row (restart_of → the old agent_id).
  CREATE TABLE agent_lifecycle (
    id                    INTEGER PRIMARY KEY,
    agent_id              TEXT NOT NULL UNIQUE,
    agent_type            TEXT NOT NULL,
    singleton             INTEGER NOT NULL DEFAULT 1 CHECK (singleton IN (0, 1)),
    status                TEXT NOT NULL CHECK (status IN ('starting','running','exited','failed','killed')),
    pid                   INTEGER,
    pid_start_time        TEXT,
    supervisor_pid        INTEGER,
    supervisor_start_time TEXT,
    task_id               TEXT REFERENCES specs_task (task_id),
    worktree_path         TEXT,
    log_path              TEXT,
    started_at            INTEGER NOT NULL,
    last_heartbeat        INTEGER,
    activity              TEXT,
    waiting_on            TEXT,
    cpu_percent           REAL,
    cpu_ticks             INTEGER,
    memory_bytes          INTEGER,
    sampled_at            INTEGER,
    exit_code             INTEGER,
    exit_signal           TEXT,
    end_reason            TEXT,
    ended_at              INTEGER,
    restart_of            TEXT,
    restart_state         TEXT CHECK (restart_state IN ('restarted','gave_up')),
    updated_at            INTEGER NOT NULL
  ) STRICT;
  -- CFR-000: at most one live agent per singleton type, enforced by SQLite under any race.
  CREATE UNIQUE INDEX agent_lifecycle_one_singleton ON agent_lifecycle (agent_type)
    WHERE singleton = 1 AND status IN ('starting','running');
  -- Never two live agents on one task.
  CREATE UNIQUE INDEX agent_lifecycle_one_per_task ON agent_lifecycle (task_id)
    WHERE task_id IS NOT NULL AND status IN ('starting','running');
  CREATE INDEX agent_lifecycle_live ON agent_lifecycle (agent_type)
    WHERE status IN ('starting','running');
  -- Ended agents that may still be due a restart.
  CREATE INDEX agent_lifecycle_restartable ON agent_lifecycle (ended_at)
    WHERE status = 'failed' AND restart_state IS NULL;

  CREATE TABLE agent_message (
    id               INTEGER PRIMARY KEY,
    from_agent       TEXT NOT NULL,
    to_agent         TEXT NOT NULL,
    to_kind          TEXT NOT NULL CHECK (to_kind IN ('agent','type')),
    message_type     TEXT NOT NULL,
    content          TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 1,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
                       ('pending','delivered','acknowledged','failed','expired')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    available_at     INTEGER NOT NULL,
    lease_expires_at INTEGER,
    receipt          TEXT,
    delivered_to     TEXT,
    expires_at       INTEGER NOT NULL,
    idempotency_key  TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER,
    finished_at      INTEGER
  ) STRICT;
  -- The claim: one range scan per recipient, already in delivery order (priority, then age).
  -- Partial indexes hold only the live rows, so a million acknowledged messages cost nothing.
  CREATE INDEX agent_message_pending ON agent_message (to_agent, to_kind, priority, id)
    WHERE status = 'pending';
  -- Lazy sweeps: leases that ran out, and pending messages past their TTL.
  CREATE INDEX agent_message_leased ON agent_message (lease_expires_at)
    WHERE status = 'delivered';
  CREATE INDEX agent_message_expiry ON agent_message (expires_at)
    WHERE status = 'pending';
  -- Dead letters and expired messages, for route list --status failed|expired.
  CREATE INDEX agent_message_dead ON agent_message (status, id)
    WHERE status IN ('failed','expired');
  CREATE UNIQUE INDEX agent_message_idempotency ON agent_message (from_agent, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

  -- One row per worktree the orchestrator made. 'creating' is written before \`git worktree add\`
  -- and 'merging' (with merge_commit) before the integration ref moves, so a process killed in
  -- between leaves a row that the next worktrees command can finish or roll back.
  CREATE TABLE git_worktree_tracker (
    id            INTEGER PRIMARY KEY,
    task_id       TEXT NOT NULL REFERENCES specs_task (task_id),
    branch        TEXT NOT NULL,
    worktree_path TEXT NOT NULL,
    base_branch   TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN
                    ('creating','active','merging','merged','removed','conflict','abandoned')),
    merge_target  TEXT,
    merge_commit  TEXT,
    conflicts     TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX git_worktree_tracker_one_live ON git_worktree_tracker (task_id)
    WHERE status IN ('creating','active','merging','merged','conflict');
  CREATE INDEX git_worktree_tracker_status ON git_worktree_tracker (status, task_id);

  CREATE TABLE agent_restart_log (
    id             INTEGER PRIMARY KEY,
    agent_id       TEXT NOT NULL,
    agent_type     TEXT NOT NULL,
    task_id        TEXT,
    new_agent_id   TEXT,
    reason         TEXT NOT NULL,
    attempt_number INTEGER NOT NULL,
    delay_ms       INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
  ) STRICT;
  -- A restart "lineage" is one agent type on one task (or on no task, for a singleton).
  CREATE INDEX agent_restart_log_lineage ON agent_restart_log (agent_type, task_id, created_at);

  -- CFR-014: one row per state change; the source of reports and job summaries.
  CREATE TABLE orchestrator_event (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    task_id    TEXT,
    agent_id   TEXT,
    message_id INTEGER,
    detail     TEXT
  ) STRICT;
  CREATE INDEX orchestrator_event_at ON orchestrator_event (at);
  CREATE INDEX orchestrator_event_task ON orchestrator_event (task_id, at) WHERE task_id IS NOT NULL;

  CREATE TABLE orchestrator_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
  ) STRICT, WITHOUT ROWID;
  `,
  // 2: who is starting an agent. A `starting` row without a supervisor yet belongs to the process
  // that inserted it; once that spawner is dead (killed before it launched the supervisor) the
  // row is released at once instead of holding its slot until the start timeout.
  `
  ALTER TABLE agent_lifecycle ADD COLUMN spawner_pid INTEGER;
  ALTER TABLE agent_lifecycle ADD COLUMN spawner_start_time TEXT;
  `,
  // 3: every foreign key's child column gets a whole (not partial) index. SQLite looks up
  // child rows through such an index when a task is inserted while foreign key checks are
  // deferred (plan import) or when a task row changes; without one it scans the whole table.
  `
  CREATE INDEX agent_lifecycle_by_task ON agent_lifecycle (task_id);
  CREATE INDEX git_worktree_tracker_by_task ON git_worktree_tracker (task_id);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
