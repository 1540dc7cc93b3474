-- Receipts of right-to-erasure requests (strata.privacy.receipts.v1), from which the CRM
-- reports whether an erasure is complete (CRMService.GetErasureStatus).

-- +goose Up
-- erasure_receipts hold one receipt per request and service: the first one received (a
-- redelivered request yields a second receipt, which finds nothing left to erase). The
-- user id is the record of whom the request was for: the status names it, and the
-- erasure of the user's own rows (Tx.EraseUser) does not touch this table.
CREATE TABLE erasure_receipts (
    request_id   TEXT NOT NULL,
    service      TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    completed_us BIGINT NOT NULL,
    items        BIGINT NOT NULL,
    PRIMARY KEY (request_id, service)
);

-- +goose Down
DROP TABLE erasure_receipts;
