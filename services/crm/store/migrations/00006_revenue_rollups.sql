-- Monthly roll-ups of the revenue report, kept up to date in the transaction of every
-- write that changes a user's part of them (see rollups.go), so that a report reads a
-- few rows per group and month instead of every active user. Migration 7 (a Go
-- migration, rollups.go) fills them from the existing rows.

-- +goose Up
-- revenue_rollups: per dimension (month, segment, rfm_tier, cohort), group key, month and
-- currency, the orders (GMV, paying users, returning paying users, CLV sum and count of
-- the paying users with a prediction) and the refunds made in the month.
CREATE TABLE revenue_rollups (
    dim           TEXT NOT NULL,
    gkey          TEXT NOT NULL,
    month         INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    gmv_minor     BIGINT NOT NULL DEFAULT 0,
    paying        BIGINT NOT NULL DEFAULT 0,
    returned      BIGINT NOT NULL DEFAULT 0,
    clv_sum_minor BIGINT NOT NULL DEFAULT 0,
    clv_count     BIGINT NOT NULL DEFAULT 0,
    refunds_minor BIGINT NOT NULL DEFAULT 0,
    refund_count  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, month, gkey, currency)
);
-- activity_rollups: per dimension, group key and month, the active users and those of
-- them active the month before too (retained): churned(m) = active(m-1) - retained(m).
CREATE TABLE activity_rollups (
    dim      TEXT NOT NULL,
    gkey     TEXT NOT NULL,
    month    INTEGER NOT NULL,
    active   BIGINT NOT NULL DEFAULT 0,
    retained BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (dim, month, gkey)
);
-- A user's part of the roll-ups is computed from their own rows.
CREATE INDEX refunds_user ON refunds (user_id);

-- +goose Down
DROP INDEX refunds_user;
DROP TABLE activity_rollups;
DROP TABLE revenue_rollups;
