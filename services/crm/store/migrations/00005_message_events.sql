-- message_events keeps, per campaign message, the first time of each engagement event
-- (Message Delivered, Opened, Clicked) with the message's campaign and variant, written
-- with the interaction: campaign reports count them with an index-only scan instead of
-- joining every message event with the outbox.

-- +goose Up
CREATE TABLE message_events (
    message_id  TEXT NOT NULL,
    event       TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    variant     TEXT NOT NULL,
    at_us       BIGINT NOT NULL,
    PRIMARY KEY (message_id, event)
);
CREATE INDEX message_events_campaign ON message_events (campaign_id, variant, event);
INSERT INTO message_events (message_id, event, campaign_id, variant, at_us)
SELECT i.message_id, i.event, o.campaign_id, o.variant, MIN(i.at_us)
FROM interactions i JOIN outbox o ON o.message_id = i.message_id
WHERE i.message_id <> '' AND i.event IN ('Message Delivered', 'Message Opened', 'Message Clicked')
GROUP BY i.message_id, i.event, o.campaign_id, o.variant;

-- +goose Down
DROP TABLE message_events;
