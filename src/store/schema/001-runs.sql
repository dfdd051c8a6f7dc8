-- The run store, version 1. Written in the SQL both backends speak (SQLite and PostgreSQL):
-- TEXT, BIGINT and INTEGER columns only, times in milliseconds since the Unix epoch by the
-- store's clock, JSON kept as text.

-- Every flow text a run was started with, by content hash: a run and its resumption use the
-- exact version it started with.
CREATE TABLE flows (
    hash        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    text        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,          -- UUIDv7, also the run of its trace
    flow            TEXT NOT NULL,             -- the flow's name
    flow_hash       TEXT NOT NULL REFERENCES flows (hash),
    flow_path       TEXT,                      -- the file it was loaded from
    profiles_path   TEXT,                      -- the profiles file it was started with
    params          TEXT NOT NULL,             -- JSON object
    status          TEXT NOT NULL,             -- queued, running, succeeded, failed, cancelled
    attempts        INTEGER NOT NULL DEFAULT 0,-- each claim adds one: the fencing token
    lease_owner     TEXT,
    lease_until     BIGINT,                    -- the holder may write until then
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    result          TEXT,                      -- JSON
    error           TEXT,                      -- JSON, as vars.error
    idempotency_key TEXT,
    parent          TEXT,                      -- the run that called this one
    state_key       TEXT,                      -- the flow state it keeps (NULL: none)
    state_version   BIGINT                     -- the version of that state it started from
);
-- Few indexes, each as small as it can be: every one is written at every run's start and end.
-- Runs are listed newest first by `id` (a UUIDv7 sorts by its creation time); only runs with a
-- key are in the idempotency index, and only runs not over are in the status index.
CREATE UNIQUE INDEX runs_idempotency ON runs (flow, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_not_over ON runs (status) WHERE status IN ('queued', 'running');

-- One entry per finished node of a run: what it wrote and where it went.
CREATE TABLE steps (
    run         TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step        BIGINT NOT NULL,
    attempt     INTEGER NOT NULL,
    node        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    exit        TEXT,                          -- NULL: the node ended the run
    writes      TEXT NOT NULL,                 -- JSON array of {path, set} / {path, append}
    state       TEXT,                          -- JSON object: the node's state, changes only
    error       TEXT,                          -- JSON, when the node failed
    http        TEXT,                          -- JSON array of its trace's http events
    started_at  BIGINT NOT NULL,
    ms          BIGINT NOT NULL,
    PRIMARY KEY (run, step)
);

-- What flows keep between runs (flow state), one row per flow and key.
CREATE TABLE flow_state (
    flow        TEXT NOT NULL,
    key         TEXT NOT NULL,                 -- '' for a flow without a key
    vars        TEXT NOT NULL,                 -- JSON object of the kept variables
    version     BIGINT NOT NULL,               -- one more at each store
    run         TEXT,                          -- the run that stored it
    updated_at  BIGINT NOT NULL,
    holder      TEXT,                          -- the run holding the key (runs don't overlap)
    PRIMARY KEY (flow, key)
);
