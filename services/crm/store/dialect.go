package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// dialect is what the two adapters do differently; everything else is shared SQL.
type dialect interface {
	goose() goose.Dialect
	open(dsn string) (*sql.DB, error)
	// lockLaunches serialises launch transactions: frequency caps are read and written
	// in one transaction, so two launches must not interleave.
	lockLaunches(ctx context.Context, t *Tx) error
	// lockUser locks a user's customer row until the end of t (see Tx.rollup).
	lockUser(ctx context.Context, t *Tx, userID string) error
	// insertRows inserts rows (values in cols order) into table within t.
	insertRows(ctx context.Context, t *Tx, table string, cols []string, rows [][]any) error
}

type postgres struct{}

func (postgres) goose() goose.Dialect { return goose.DialectPostgres }

func (postgres) open(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	return db, nil
}

// launchLockKey is the PostgreSQL advisory lock that serialises launches (any constant
// unique to this use; "crm-launch" in ASCII).
const launchLockKey = 0x63726d2d6c61756e

func (postgres) lockLaunches(ctx context.Context, t *Tx) error {
	if _, err := t.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(launchLockKey)); err != nil {
		return fmt.Errorf("store: launch lock: %w", err)
	}
	return nil
}

func (postgres) lockUser(ctx context.Context, t *Tx, userID string) error {
	if _, err := t.tx.ExecContext(ctx, `SELECT 1 FROM customers WHERE user_id = $1 FOR UPDATE`, userID); err != nil {
		return fmt.Errorf("store: lock customer: %w", err)
	}
	return nil
}

// insertRows uses COPY on the transaction's own connection: an order of magnitude
// faster than INSERTs for launch-sized audiences.
func (postgres) insertRows(ctx context.Context, t *Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	return t.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("store: not a pgx connection")
		}
		n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		if err != nil {
			return fmt.Errorf("store: copy into %s: %w", table, err)
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("store: copy into %s: wrote %d of %d rows", table, n, len(rows))
		}
		return nil
	})
}

type sqlite struct{}

func (sqlite) goose() goose.Dialect { return goose.DialectSQLite3 }

func (sqlite) open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=cache_size(-65536)")
	if err != nil {
		return nil, err
	}
	// SQLite allows one writer; one connection avoids "database is locked" and
	// serialises transactions in the process.
	db.SetMaxOpenConns(1)
	return db, nil
}

// lockLaunches is a no-op: the single connection already serialises transactions.
func (sqlite) lockLaunches(context.Context, *Tx) error { return nil }

// lockUser has nothing to do: SQLite runs one write transaction at a time.
func (sqlite) lockUser(context.Context, *Tx, string) error { return nil }

func (sqlite) insertRows(ctx context.Context, t *Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	// Multi-row INSERTs of up to sqliteBatch rows: the per-statement cost of the driver
	// dominates single-row inserts.
	insert := func(n int) (*sql.Stmt, error) {
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
		for r := range n {
			if r > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range cols {
				if c > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "$%d", r*len(cols)+c+1)
			}
			b.WriteByte(')')
		}
		return t.tx.PrepareContext(ctx, b.String())
	}
	batch := max(1, min(sqliteBatch, sqliteMaxParams/len(cols)))
	var full *sql.Stmt
	defer func() {
		if full != nil {
			_ = full.Close()
		}
	}()
	args := make([]any, 0, batch*len(cols))
	for len(rows) > 0 {
		n := min(batch, len(rows))
		stmt := full
		if n < batch || full == nil {
			s, err := insert(n)
			if err != nil {
				return fmt.Errorf("store: prepare insert into %s: %w", table, err)
			}
			if n == batch {
				full = s
			} else {
				defer s.Close()
			}
			stmt = s
		}
		args = args[:0]
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: insert into %s: %w", table, err)
		}
		rows = rows[n:]
	}
	return nil
}

// SQLite limits: rows per multi-row INSERT, and bound parameters per statement
// (SQLITE_MAX_VARIABLE_NUMBER is 32766 since 3.32).
const (
	sqliteBatch     = 10
	sqliteMaxParams = 32766
)
