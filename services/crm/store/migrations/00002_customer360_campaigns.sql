-- Customer 360, satisfaction, campaigns and the outbox.
--
-- Conventions shared by both dialects: times are BIGINT microseconds since the Unix epoch
-- (UTC; 0 = unknown), money is BIGINT minor units next to a currency code, booleans are
-- BOOLEAN, blobs are BYTEA (BLOB storage in SQLite). Only SQL both PostgreSQL and SQLite
-- accept is used.

-- +goose Up
-- The skeleton's customers table never held rows (its consumer only decoded messages):
-- it is replaced, not migrated.
DROP TABLE customers;
CREATE TABLE customers (
    user_id               TEXT PRIMARY KEY,
    first_seen_us         BIGINT NOT NULL DEFAULT 0,
    last_interaction_us   BIGINT NOT NULL DEFAULT 0,
    orders                BIGINT NOT NULL DEFAULT 0,
    discounted_orders     BIGINT NOT NULL DEFAULT 0,
    revenue_minor         BIGINT NOT NULL DEFAULT 0,
    refunds               BIGINT NOT NULL DEFAULT 0,
    refunded_minor        BIGINT NOT NULL DEFAULT 0,
    currency              TEXT NOT NULL DEFAULT '',
    rfm_tier              TEXT NOT NULL DEFAULT '',
    lifecycle             TEXT NOT NULL DEFAULT '',
    value_tier            TEXT NOT NULL DEFAULT '',
    profile_version       BIGINT NOT NULL DEFAULT 0,
    profile               BYTEA,
    do_not_contact        BOOLEAN NOT NULL DEFAULT FALSE,
    do_not_contact_reason TEXT NOT NULL DEFAULT '',
    updated_us            BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    channel    TEXT NOT NULL,
    granted    BOOLEAN NOT NULL,
    updated_us BIGINT NOT NULL,
    PRIMARY KEY (user_id, channel)
);

CREATE TABLE predictions (
    user_id             TEXT PRIMARY KEY,
    purchase_propensity DOUBLE PRECISION NOT NULL,
    churn_risk          DOUBLE PRECISION NOT NULL,
    clv_minor           BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    p_alive             DOUBLE PRECISION NOT NULL,
    scored_us           BIGINT NOT NULL,
    snapshot            BYTEA
);

-- segment_members keeps exits as member = FALSE so that a stale enter (older profile
-- version) cannot bring a member back.
CREATE TABLE segment_members (
    segment_id      TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    member          BOOLEAN NOT NULL,
    profile_version BIGINT NOT NULL,
    since_us        BIGINT NOT NULL,
    PRIMARY KEY (segment_id, user_id)
);
CREATE INDEX segment_members_user ON segment_members (user_id);

CREATE TABLE interactions (
    event_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    at_us          BIGINT NOT NULL,
    event          TEXT NOT NULL,
    kind           TEXT NOT NULL,
    item_id        TEXT NOT NULL DEFAULT '',
    order_id       TEXT NOT NULL DEFAULT '',
    amount_minor   BIGINT NOT NULL DEFAULT 0,
    discount_minor BIGINT NOT NULL DEFAULT 0,
    currency       TEXT NOT NULL DEFAULT '',
    coupon         TEXT NOT NULL DEFAULT '',
    measure        DOUBLE PRECISION NOT NULL DEFAULT 0,
    campaign_id    TEXT NOT NULL DEFAULT '',
    message_id     TEXT NOT NULL DEFAULT '',
    ticket_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX interactions_user_at ON interactions (user_id, at_us);
CREATE INDEX interactions_event_user_at ON interactions (event, user_id, at_us);
CREATE INDEX interactions_message ON interactions (message_id) WHERE message_id <> '';

CREATE TABLE orders (
    order_id       TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    at_us          BIGINT NOT NULL,
    month          INTEGER NOT NULL,
    revenue_minor  BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    coupon         TEXT NOT NULL DEFAULT '',
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    refunded_us    BIGINT NOT NULL DEFAULT 0,
    event_id       TEXT NOT NULL
);
CREATE INDEX orders_user_at ON orders (user_id, at_us);
CREATE INDEX orders_month ON orders (month);

CREATE TABLE order_items (
    order_id    TEXT NOT NULL,
    line        INTEGER NOT NULL,
    item_id     TEXT NOT NULL,
    quantity    INTEGER NOT NULL,
    price_minor BIGINT NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (order_id, line)
);

-- feedback holds survey answers (nps, csat, ces) and item ratings; day and month are the
-- UTC day number and YYYYMM of the answer, so both dialects group by time alike.
CREATE TABLE feedback (
    event_id   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    at_us      BIGINT NOT NULL,
    day        INTEGER NOT NULL,
    month      INTEGER NOT NULL,
    metric     TEXT NOT NULL,
    score      INTEGER NOT NULL,
    item_id    TEXT NOT NULL DEFAULT '',
    creator_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feedback_at ON feedback (at_us);
CREATE INDEX feedback_user ON feedback (user_id, at_us);

CREATE TABLE follow_up_tasks (
    task_id         TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    score           INTEGER NOT NULL,
    source_event_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_us      BIGINT NOT NULL
);
CREATE INDEX follow_up_tasks_created ON follow_up_tasks (created_us);
CREATE INDEX follow_up_tasks_user ON follow_up_tasks (user_id);

CREATE TABLE catalog_items (
    item_id     TEXT PRIMARY KEY,
    creator_id  TEXT NOT NULL,
    category    TEXT NOT NULL,
    price_minor BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE
);

-- campaigns keeps the definition as the service encoded it (protobuf); the columns are
-- what queries and state transitions need.
CREATE TABLE campaigns (
    campaign_id     TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    state           TEXT NOT NULL,
    channel         TEXT NOT NULL,
    definition      BYTEA NOT NULL,
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL,
    scheduled_us    BIGINT NOT NULL DEFAULT 0,
    launched_us     BIGINT NOT NULL DEFAULT 0,
    audience_size   BIGINT NOT NULL DEFAULT 0,
    control_percent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX campaigns_state ON campaigns (state, scheduled_us);
CREATE INDEX campaigns_created ON campaigns (created_us, campaign_id);

-- campaign_audience is every eligible user of a launched campaign with its arm: a
-- variant name, "holdout" or "control". Only variant members have a message.
CREATE TABLE campaign_audience (
    campaign_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    arm         TEXT NOT NULL,
    message_id  TEXT NOT NULL DEFAULT '',
    assigned_us BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
);
CREATE INDEX campaign_audience_user ON campaign_audience (user_id, assigned_us);

-- outbox holds every campaign message, written in the launch transaction; the relay
-- publishes the rows with published_us = 0 and then stamps them.
CREATE TABLE outbox (
    message_id     TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    channel        TEXT NOT NULL,
    variant        TEXT NOT NULL,
    discount_minor BIGINT NOT NULL DEFAULT 0,
    created_us     BIGINT NOT NULL,
    payload        BYTEA NOT NULL,
    published_us   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending ON outbox (created_us, message_id) WHERE published_us = 0;
CREATE INDEX outbox_user_at ON outbox (user_id, created_us);
CREATE INDEX outbox_channel_at ON outbox (channel, created_us);
CREATE INDEX outbox_campaign ON outbox (campaign_id);

-- +goose Down
DROP TABLE outbox;
DROP TABLE campaign_audience;
DROP TABLE campaigns;
DROP TABLE catalog_items;
DROP TABLE follow_up_tasks;
DROP TABLE feedback;
DROP TABLE order_items;
DROP TABLE orders;
DROP TABLE interactions;
DROP TABLE segment_members;
DROP TABLE predictions;
DROP TABLE consents;
DROP TABLE customers;
CREATE TABLE customers (
    user_id          TEXT PRIMARY KEY,
    first_seen       TIMESTAMP NOT NULL,
    last_interaction TIMESTAMP NOT NULL,
    orders           BIGINT NOT NULL DEFAULT 0,
    revenue_minor    BIGINT NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL DEFAULT ''
);
