-- Revenue reports and creator settlement.

-- +goose Up
-- refunds keeps each refund with its own month: reports count refunds when they happen.
CREATE TABLE refunds (
    event_id     TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    at_us        BIGINT NOT NULL,
    month        INTEGER NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency     TEXT NOT NULL
);
CREATE INDEX refunds_month ON refunds (month);
CREATE INDEX refunds_order ON refunds (order_id);

-- activity_months records the months (YYYYMM, UTC) in which a user had any event: the
-- active users, churn and acquisition cohorts of revenue reports.
CREATE TABLE activity_months (
    month   INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (month, user_id)
);
CREATE INDEX activity_months_user ON activity_months (user_id, month);

-- referrer is the creator whose link brought the order, if any.
ALTER TABLE orders ADD COLUMN referrer TEXT NOT NULL DEFAULT '';
CREATE INDEX order_items_item ON order_items (item_id);

-- revenue_share_rules say how a creator's sales are split; creator_id '' is the default
-- rule. The rule in force for a month is the one with the latest effective_month not
-- after it. Shares and fees are in basis points.
CREATE TABLE revenue_share_rules (
    rule_id            TEXT PRIMARY KEY,
    creator_id         TEXT NOT NULL,
    effective_month    INTEGER NOT NULL,
    own_share_bps      INTEGER NOT NULL,
    platform_share_bps INTEGER NOT NULL,
    platform_fee_bps   INTEGER NOT NULL,
    clawback_days      INTEGER NOT NULL,
    updated_us         BIGINT NOT NULL
);
CREATE UNIQUE INDEX revenue_share_rules_creator_month ON revenue_share_rules (creator_id, effective_month);

-- creator_coupons are the coupons a creator hands out: sales with them are the
-- creator's own.
CREATE TABLE creator_coupons (
    coupon     TEXT PRIMARY KEY,
    creator_id TEXT NOT NULL
);

-- Frequency caps count campaign audiences per channel over the last week.
CREATE INDEX campaign_audience_assigned ON campaign_audience (assigned_us);

-- +goose Down
DROP INDEX campaign_audience_assigned;
DROP TABLE creator_coupons;
DROP TABLE revenue_share_rules;
DROP INDEX order_items_item;
ALTER TABLE orders DROP COLUMN referrer;
DROP TABLE activity_months;
DROP TABLE refunds;
