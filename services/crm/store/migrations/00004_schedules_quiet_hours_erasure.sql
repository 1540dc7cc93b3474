-- Recurring and segment-entry schedules, quiet hours, right to erasure, report indexes.

-- +goose Up
-- parent_id links a recurring campaign's occurrences to it; runs counts them.
-- trigger_segment is a segment-entry campaign's trigger.
ALTER TABLE campaigns ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN trigger_segment TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN until_us BIGINT NOT NULL DEFAULT 0;
CREATE INDEX campaigns_trigger ON campaigns (trigger_segment, state);

-- segment_entries are segment entries waiting for the segment-entry campaigns that
-- trigger on them; written with the segment change, removed once handled.
CREATE TABLE segment_entries (
    segment_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    entered_us BIGINT NOT NULL,
    PRIMARY KEY (segment_id, user_id, entered_us)
);

-- timezone is the profile trait "timezone" (IANA), for quiet hours.
ALTER TABLE customers ADD COLUMN timezone TEXT NOT NULL DEFAULT '';

-- due_us is when a message may be delivered: its creation, or the end of the user's
-- quiet hours. The relay publishes due messages only.
ALTER TABLE outbox ADD COLUMN due_us BIGINT NOT NULL DEFAULT 0;
DROP INDEX outbox_pending;
CREATE INDEX outbox_due ON outbox (due_us, message_id) WHERE published_us = 0;

-- erasures record the right-to-erasure requests carried out (not whom they were for).
CREATE TABLE erasures (
    request_id   TEXT PRIMARY KEY,
    erased_us    BIGINT NOT NULL,
    rows_changed BIGINT NOT NULL
);

-- Campaign reports (see store.ArmStats and services/crm/README.md for the plans): goal
-- events in the attribution window by time; the audience per arm and the sends per
-- variant from index-only scans (the outbox index covers the one it replaces).
CREATE INDEX interactions_event_at ON interactions (event, at_us);
CREATE INDEX campaign_audience_arm ON campaign_audience (campaign_id, arm, assigned_us);
CREATE INDEX outbox_campaign_variant ON outbox (campaign_id, variant, published_us);
DROP INDEX outbox_campaign;

-- +goose Down
CREATE INDEX outbox_campaign ON outbox (campaign_id);
DROP INDEX outbox_campaign_variant;
DROP INDEX campaign_audience_arm;
DROP INDEX interactions_event_at;
DROP TABLE erasures;
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (created_us, message_id) WHERE published_us = 0;
ALTER TABLE outbox DROP COLUMN due_us;
ALTER TABLE customers DROP COLUMN timezone;
DROP TABLE segment_entries;
DROP INDEX campaigns_trigger;
ALTER TABLE campaigns DROP COLUMN until_us;
ALTER TABLE campaigns DROP COLUMN trigger_segment;
ALTER TABLE campaigns DROP COLUMN runs;
ALTER TABLE campaigns DROP COLUMN parent_id;
