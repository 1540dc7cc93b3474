// Package store opens the CRM database — PostgreSQL in production, SQLite (pure Go) in
// the embedded default — and applies the versioned migrations embedded in this package
// (pressly/goose) before anything else touches it. Both dialects run the same SQL, kept
// to the common subset of the two.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNoDatabase is returned by Validate when neither a PostgreSQL URL nor a SQLite path
// is set.
var ErrNoDatabase = errors.New("store: set STRATA_POSTGRES_URL or STRATA_CRM_SQLITE_PATH")

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

// DB is an open, migrated database.
type DB struct {
	*sql.DB
	Dialect goose.Dialect
}

// Open connects and migrates to the latest version.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	driver, dsn, dialect := "pgx", cfg.PostgresURL, goose.DialectPostgres
	if cfg.PostgresURL == "" {
		driver, dsn, dialect = "sqlite", "file:"+cfg.SQLitePath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)", goose.DialectSQLite3
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driver, err)
	}
	if dialect == goose.DialectSQLite3 {
		// SQLite allows one writer; one connection avoids "database is locked".
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: ping %s: %w", driver, err)
	}
	if err := Migrate(ctx, db, dialect); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &DB{DB: db, Dialect: dialect}, nil
}

// Migrate applies every pending migration.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect) error {
	p, err := goose.NewProvider(dialect, db, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Version returns the current schema version.
func (db *DB) Version(ctx context.Context) (int64, error) {
	p, err := goose.NewProvider(db.Dialect, db.DB, mustSub(migrations, "migrations"))
	if err != nil {
		return 0, fmt.Errorf("store: migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}
