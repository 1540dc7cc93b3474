// Package store is the CRM's repository: customers and their 360 view, satisfaction
// answers, campaigns, their audiences and the message outbox, and the report queries
// over them. It runs on PostgreSQL (through pgx) in production and on SQLite (pure Go)
// in the embedded default, behind one API, and applies the versioned migrations
// embedded in this package (pressly/goose) before anything else touches the database.
//
// Both adapters run the same SQL, kept to the subset the two dialects share: times are
// BIGINT microseconds since the epoch, money is BIGINT minor units next to a currency.
// What differs lives in a [dialect]: how the driver is opened, how launches and a
// user's roll-up writes are serialised, and how large row sets are inserted (COPY on PostgreSQL, a prepared
// statement on SQLite).
//
// Every write is transactional. Consumers apply each Kafka message through [Store.Apply],
// which records the message's position in applied_positions in the same transaction as
// the rows it changes, so a redelivered message changes nothing. A Store is safe for
// concurrent use.
//
// Right to erasure ([Tx.EraseUser]) anonymises a user's rows in place rather than
// deleting them, so that every report keeps its totals (the revenue roll-ups, keyed by
// group and not by user, are unchanged by it).
//
// The revenue report ([Store.Revenue]) reads monthly roll-ups kept in the transaction of
// each write that changes a user's part of them (rollups.go), which serialises such
// writes per user (a row lock on the customer in PostgreSQL) and per roll-up row: the
// first event of each user in a month updates the month's row of every dimension.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors returned by the Store.
var (
	// ErrNoDatabase is returned by Validate when neither a PostgreSQL URL nor a SQLite
	// path is set.
	ErrNoDatabase = errors.New("store: set STRATA_POSTGRES_URL or STRATA_CRM_SQLITE_PATH")
	// ErrNotFound is returned when the row asked for does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrExists is returned when a row with the same key exists.
	ErrExists = errors.New("store: already exists")
	// ErrState is returned when a campaign is not in a state that allows the change.
	ErrState = errors.New("store: campaign state does not allow this")
	// ErrAlreadyLaunched is returned by Launch for a campaign launched before; nothing
	// was written.
	ErrAlreadyLaunched = errors.New("store: campaign already launched")
	// ErrEmptyAudience is returned by Launch when the plan has no audience; nothing was
	// written.
	ErrEmptyAudience = errors.New("store: empty audience")
)

// Config chooses the database.
type Config struct {
	// PostgresURL, when set, selects PostgreSQL.
	PostgresURL string `env:"STRATA_POSTGRES_URL"`
	// SQLitePath selects SQLite when no PostgreSQL URL is set.
	SQLitePath string `env:"STRATA_CRM_SQLITE_PATH"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if c.PostgresURL == "" && c.SQLitePath == "" {
		return ErrNoDatabase
	}
	return nil
}

// Store is an open, migrated CRM database.
type Store struct {
	db *sql.DB
	d  dialect
}

// Open connects and migrates to the latest version.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var d dialect = sqlite{}
	dsn := cfg.SQLitePath
	if cfg.PostgresURL != "" {
		d, dsn = postgres{}, cfg.PostgresURL
	}
	db, err := d.open(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", d.goose(), err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: ping %s: %w", d.goose(), err)
	}
	if err := migrate(ctx, db, d.goose()); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Store{db: db, d: d}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Dialect names the database behind the store: "postgres" or "sqlite3".
func (s *Store) Dialect() string { return string(s.d.goose()) }

// Ping checks the database answers (for readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// provider gives the migrations: the SQL files, then the Go migration that fills the
// revenue roll-ups.
func provider(db *sql.DB, dialect goose.Dialect) (*goose.Provider, error) {
	return goose.NewProvider(dialect, db, mustSub(migrations, "migrations"), goose.WithGoMigrations(rollupMigration()))
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect) error {
	p, err := provider(db, dialect)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Version returns the current schema version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	p, err := provider(s.db, s.d.goose())
	if err != nil {
		return 0, fmt.Errorf("store: migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is one transaction. Its methods are the writes consumers make; it is not safe for
// concurrent use.
type Tx struct {
	conn *sql.Conn
	tx   *sql.Tx
	d    dialect
	// rollups is the change of the revenue roll-ups made so far, added at commit.
	rollups contribution
}

// inTx runs fn in a transaction on a connection of its own, committing when fn returns
// nil and rolling back otherwise.
func (s *Store) inTx(ctx context.Context, fn func(*Tx) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	t := &Tx{conn: conn, tx: tx, d: s.d}
	if err := fn(t); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := t.flushRollups(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// micros converts t to the stored form; the zero time is 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts the stored form back; 0 is the zero time.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// Day returns t's UTC day number (days since 1970-01-01).
func Day(t time.Time) int {
	return int(t.UTC().Unix() / 86400)
}

// Month returns t's UTC month as YYYYMM.
func Month(t time.Time) int {
	t = t.UTC()
	return t.Year()*100 + int(t.Month())
}
