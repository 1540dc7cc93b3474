-- API keys and the audit log of admin actions.
--
-- Shared by PostgreSQL and SQLite, so only SQL both accept: times are BIGINT
-- microseconds since the Unix epoch (UTC; 0 = never), hashes are BYTEA (BLOB storage in
-- SQLite).

-- +goose Up
-- api_keys never holds a secret: hash is SHA-256 of it. scopes are the Scope enum
-- numbers, comma-separated.
CREATE TABLE api_keys (
    key_id          TEXT PRIMARY KEY,
    hash            BYTEA NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    user_id         TEXT NOT NULL DEFAULT '',
    rate_per_second DOUBLE PRECISION NOT NULL DEFAULT 0,
    rate_burst      INTEGER NOT NULL DEFAULT 0,
    created_us      BIGINT NOT NULL,
    revoked_us      BIGINT NOT NULL DEFAULT 0
);

-- audit_log: entry_id is the time in microseconds (16 hex digits) followed by 8 random
-- hex digits, so it orders entries by time and needs no dialect-specific sequence.
CREATE TABLE audit_log (
    entry_id TEXT PRIMARY KEY,
    at_us    BIGINT NOT NULL,
    key_id   TEXT NOT NULL,
    method   TEXT NOT NULL,
    target   TEXT NOT NULL DEFAULT '',
    code     TEXT NOT NULL,
    message  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_key ON audit_log (key_id, entry_id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE api_keys;
