-- +goose Up
CREATE TABLE customers (
    user_id          TEXT PRIMARY KEY,
    first_seen       TIMESTAMP NOT NULL,
    last_interaction TIMESTAMP NOT NULL,
    orders           BIGINT NOT NULL DEFAULT 0,
    revenue_minor    BIGINT NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL DEFAULT ''
);

-- applied_positions makes the CRM consumers idempotent: the last Kafka offset applied per
-- topic partition, updated in the same transaction as the rows it changed.
CREATE TABLE applied_positions (
    topic      TEXT NOT NULL,
    partition_ INTEGER NOT NULL,
    offset_    BIGINT NOT NULL,
    PRIMARY KEY (topic, partition_)
);

-- +goose Down
DROP TABLE applied_positions;
DROP TABLE customers;
