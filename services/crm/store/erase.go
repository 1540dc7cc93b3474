package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Erasure is the record of one right-to-erasure request carried out: what shows the
// request was honoured without keeping who it was for.
type Erasure struct {
	RequestID string
	ErasedAt  time.Time
	// Rows counts the rows anonymised or deleted.
	Rows int64
}

// EraseUser anonymises everything the CRM holds on userID, within t, and records the
// erasure under requestID. Money, counts and times stay where they are, so every
// aggregate (revenue, campaign and satisfaction reports, creator statements) is
// unchanged; what could name or re-identify the person goes:
//
//   - the user id becomes pseudonym (chosen by the caller: random, never derived from
//     the id) in every table, so one person's rows still count as one user;
//   - ids that were the person's or derived from their id (event, order, message and
//     task ids) are replaced by ids derived from the pseudonym;
//   - the profile and prediction snapshots, consents, ticket ids and the content of
//     messages already sent are dropped; unsent messages and queued segment entries
//     are deleted, so nothing more is delivered; follow-up tasks are closed; the
//     customer is put on the do-not-contact list, so no campaign targets the pseudonym.
//
// Erasing a user the CRM does not know, or erasing twice, records the request and
// changes nothing else.
func (t *Tx) EraseUser(ctx context.Context, requestID, userID, pseudonym string, at time.Time) (Erasure, error) {
	e := Erasure{RequestID: requestID, ErasedAt: at}
	exec := func(query string, args ...any) error {
		res, err := t.tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: erase: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: erase: %w", err)
		}
		e.Rows += n
		return nil
	}
	// Ids to replace, each mapped to a new one made of the pseudonym and a counter.
	seq := 0
	newID := func(kind string) string {
		seq++
		return pseudonym + ":" + kind + ":" + strconv.Itoa(seq)
	}
	ids := func(query, kind string) (map[string]string, error) {
		m := map[string]string{}
		var olds []string
		err := each(ctx, t.tx, query, []any{userID}, func(r *sql.Rows) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			olds = append(olds, id)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: erase: %w", err)
		}
		for _, id := range olds {
			if _, ok := m[id]; !ok && id != "" {
				m[id] = newID(kind)
			}
		}
		return m, nil
	}
	events, err := ids(`SELECT event_id FROM interactions WHERE user_id = $1
		UNION SELECT event_id FROM feedback WHERE user_id = $1
		UNION SELECT event_id FROM refunds WHERE user_id = $1
		UNION SELECT event_id FROM orders WHERE user_id = $1
		ORDER BY 1`, "e")
	if err != nil {
		return Erasure{}, err
	}
	orders, err := ids(`SELECT order_id FROM orders WHERE user_id = $1
		UNION SELECT order_id FROM refunds WHERE user_id = $1
		UNION SELECT order_id FROM interactions WHERE user_id = $1 ORDER BY 1`, "o")
	if err != nil {
		return Erasure{}, err
	}
	messages, err := ids(`SELECT message_id FROM campaign_audience WHERE user_id = $1
		UNION SELECT message_id FROM interactions WHERE user_id = $1 ORDER BY 1`, "m")
	if err != nil {
		return Erasure{}, err
	}
	tasks, err := ids(`SELECT task_id FROM follow_up_tasks WHERE user_id = $1 ORDER BY 1`, "t")
	if err != nil {
		return Erasure{}, err
	}
	// remap runs after the user ids were replaced: rows are found by the pseudonym and
	// the id, which an index serves, except in the tables without a user.
	remap := func(table, col string, m map[string]string) error {
		q := `UPDATE ` + table + ` SET ` + col + ` = $2 WHERE ` + col + ` = $1 AND user_id = $3`
		if table == "order_items" || table == "message_events" {
			q = `UPDATE ` + table + ` SET ` + col + ` = $2 WHERE ` + col + ` = $1 AND $3 <> ''`
		}
		for old, nw := range m {
			if err := exec(q, old, nw, pseudonym); err != nil {
				return err
			}
		}
		return nil
	}
	steps := []func() error{
		// Unsent messages are never delivered; sent ones keep their row (the report
		// counts the send) without their content.
		func() error { return exec(`DELETE FROM outbox WHERE user_id = $1 AND published_us = 0`, userID) },
		func() error { return exec(`DELETE FROM consents WHERE user_id = $1`, userID) },
		func() error { return exec(`DELETE FROM segment_entries WHERE user_id = $1`, userID) },
		func() error {
			return exec(`UPDATE customers SET user_id = $2, profile = NULL, do_not_contact = TRUE, do_not_contact_reason = 'erased',
				profile_version = 0, updated_us = $3 WHERE user_id = $1`, userID, pseudonym, micros(at))
		},
		func() error {
			return exec(`UPDATE predictions SET user_id = $2, snapshot = NULL WHERE user_id = $1`, userID, pseudonym)
		},
		func() error {
			return exec(`UPDATE segment_members SET user_id = $2 WHERE user_id = $1`, userID, pseudonym)
		},
		func() error {
			return exec(`UPDATE activity_months SET user_id = $2 WHERE user_id = $1`, userID, pseudonym)
		},
		func() error {
			return exec(`UPDATE interactions SET user_id = $2, ticket_id = '' WHERE user_id = $1`, userID, pseudonym)
		},
		func() error { return exec(`UPDATE orders SET user_id = $2 WHERE user_id = $1`, userID, pseudonym) },
		func() error { return exec(`UPDATE refunds SET user_id = $2 WHERE user_id = $1`, userID, pseudonym) },
		func() error { return exec(`UPDATE feedback SET user_id = $2 WHERE user_id = $1`, userID, pseudonym) },
		func() error {
			return exec(`UPDATE follow_up_tasks SET user_id = $2, status = $3 WHERE user_id = $1`, userID, pseudonym, TaskClosed)
		},
		func() error {
			return exec(`UPDATE campaign_audience SET user_id = $2 WHERE user_id = $1`, userID, pseudonym)
		},
		func() error {
			return exec(`UPDATE outbox SET user_id = $2, payload = $3 WHERE user_id = $1`, userID, pseudonym, []byte{})
		},
		func() error { return remap("interactions", "event_id", events) },
		func() error { return remap("feedback", "event_id", events) },
		func() error { return remap("refunds", "event_id", events) },
		func() error { return remap("orders", "event_id", events) },
		func() error { return remap("follow_up_tasks", "source_event_id", events) },
		func() error { return remap("orders", "order_id", orders) },
		func() error { return remap("order_items", "order_id", orders) },
		func() error { return remap("refunds", "order_id", orders) },
		func() error { return remap("interactions", "order_id", orders) },
		func() error { return remap("campaign_audience", "message_id", messages) },
		func() error { return remap("outbox", "message_id", messages) },
		func() error { return remap("interactions", "message_id", messages) },
		func() error { return remap("message_events", "message_id", messages) },
		func() error { return remap("follow_up_tasks", "task_id", tasks) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Erasure{}, err
		}
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO erasures (request_id, erased_us, rows_changed) VALUES ($1, $2, $3)
		ON CONFLICT (request_id) DO NOTHING`, requestID, micros(at), e.Rows); err != nil {
		return Erasure{}, fmt.Errorf("store: record erasure: %w", err)
	}
	return e, nil
}

// Erasure returns the record of an erasure request; ErrNotFound when it was not carried
// out.
func (s *Store) Erasure(ctx context.Context, requestID string) (Erasure, error) {
	e := Erasure{RequestID: requestID}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT erased_us, rows_changed FROM erasures WHERE request_id = $1`, requestID).Scan(&at, &e.Rows)
	if errors.Is(err, sql.ErrNoRows) {
		return Erasure{}, fmt.Errorf("erasure %q: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return Erasure{}, fmt.Errorf("store: erasure: %w", err)
	}
	e.ErasedAt = fromMicros(at)
	return e, nil
}

// ErasureReceipt is one service's receipt of an erasure request
// (strata.privacy.receipts.v1): the service carried the request out at CompletedAt,
// removing or anonymising Items keys, rows or states.
type ErasureReceipt struct {
	RequestID   string
	UserID      string
	Service     string
	CompletedAt time.Time
	Items       int64
}

// PutErasureReceipt records r within t. The first receipt of a request and service is
// kept: a later one (a redelivered request, which finds nothing left) changes nothing.
func (t *Tx) PutErasureReceipt(ctx context.Context, r ErasureReceipt) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO erasure_receipts (request_id, service, user_id, completed_us, items)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, service) DO NOTHING`,
		r.RequestID, r.Service, r.UserID, micros(r.CompletedAt), r.Items); err != nil {
		return fmt.Errorf("store: record erasure receipt: %w", err)
	}
	return nil
}

// ErasureReceipts returns the receipts of an erasure request, one per service, in
// service order; none (and no error) when no service has reported on it.
func (s *Store) ErasureReceipts(ctx context.Context, requestID string) ([]ErasureReceipt, error) {
	var out []ErasureReceipt
	err := each(ctx, s.db, `SELECT service, user_id, completed_us, items FROM erasure_receipts
		WHERE request_id = $1 ORDER BY service`, []any{requestID}, func(r *sql.Rows) error {
		rc := ErasureReceipt{RequestID: requestID}
		var at int64
		if err := r.Scan(&rc.Service, &rc.UserID, &at, &rc.Items); err != nil {
			return err
		}
		rc.CompletedAt = fromMicros(at)
		out = append(out, rc)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: erasure receipts: %w", err)
	}
	return out, nil
}
