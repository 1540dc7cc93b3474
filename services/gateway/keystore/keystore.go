// Package keystore persists the gateway's API keys and its audit log of admin actions.
// It runs on PostgreSQL (through pgx) in production and on SQLite (pure Go) in the
// embedded default, behind one API, and applies the versioned migrations embedded in
// this package (pressly/goose) when it opens the database.
//
// Keys are stored by the SHA-256 hash of their secret; the store never sees a secret.
// Both adapters run the same SQL: times are BIGINT microseconds since the epoch, and
// audit entry ids are generated here (time then randomness) rather than by a
// dialect-specific sequence. Migrations are tracked in a table of the gateway's own and,
// on PostgreSQL, serialised with an advisory lock, so several gateway instances may start
// together against one database, which may also hold another service's tables. A Store
// is safe for concurrent use.
package keystore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"google.golang.org/protobuf/types/known/timestamppb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	gatewayv1 "github.com/stratahq/strata/proto/strata/gateway/v1"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors returned by the Store.
var (
	// ErrNoDatabase is returned by Validate when neither a PostgreSQL URL nor a SQLite
	// path is set.
	ErrNoDatabase = errors.New("keystore: set STRATA_POSTGRES_URL or STRATA_GATEWAY_SQLITE_PATH")
	// ErrNotFound is returned when no key has the id or hash asked for.
	ErrNotFound = errors.New("keystore: not found")
	// ErrExists is returned when a key with the same id or hash exists.
	ErrExists = errors.New("keystore: already exists")
)

// Config chooses the database.
type Config struct {
	// PostgresURL, when set, selects PostgreSQL.
	PostgresURL string `env:"STRATA_POSTGRES_URL"`
	// SQLitePath selects SQLite when no PostgreSQL URL is set.
	SQLitePath string `env:"STRATA_GATEWAY_SQLITE_PATH"`
}

// Validate reports configuration errors.
func (c Config) Validate() error {
	if c.PostgresURL == "" && c.SQLitePath == "" {
		return ErrNoDatabase
	}
	return nil
}

// Store is an open, migrated key database.
type Store struct {
	db      *sql.DB
	dialect goose.Dialect
}

// Open connects and migrates to the latest version.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		db      *sql.DB
		err     error
		dialect = goose.DialectSQLite3
	)
	if cfg.PostgresURL != "" {
		dialect = goose.DialectPostgres
		db, err = sql.Open("pgx", cfg.PostgresURL)
		if err == nil {
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(4)
		}
	} else {
		db, err = sql.Open("sqlite", "file:"+cfg.SQLitePath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
		if err == nil {
			// SQLite allows one writer; one connection serialises the process's writes.
			db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: open %s: %w", dialect, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("keystore: ping %s: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect}
	p, err := s.provider()
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("keystore: migrate: %w", err)
	}
	return s, nil
}

// versionTable records the applied migrations. It is the gateway's own, so the
// gateway may share a PostgreSQL database with another service's goose migrations
// (the CRM's use the default table) without either skipping the other's versions.
const versionTable = "gateway_goose_db_version"

// migrationLockID is the PostgreSQL advisory lock that serialises migrations when
// several gateway instances start together ("gw-migr" in ASCII).
const migrationLockID = 0x67772d6d69677200

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithTableName(versionTable)}
	if s.dialect == goose.DialectPostgres {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(s.dialect, s.db, sub, opts...)
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database answers (for readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Version returns the current schema version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	p, err := s.provider()
	if err != nil {
		return 0, fmt.Errorf("keystore: migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

const keyColumns = `key_id, name, scopes, user_id, rate_per_second, rate_burst, created_us, revoked_us`

// InsertKey stores k under hash (the SHA-256 of its secret). It returns ErrExists when
// the id or the hash is taken.
func (s *Store) InsertKey(ctx context.Context, k *gatewayv1.Key, hash []byte) error {
	var exists bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM api_keys WHERE key_id = $1 OR hash = $2)`,
		k.GetKeyId(), hash).Scan(&exists); err != nil {
		return fmt.Errorf("keystore: insert key: %w", err)
	}
	if exists {
		return fmt.Errorf("keystore: key %s: %w", k.GetKeyId(), ErrExists)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.GetKeyId(), k.GetName(), formatScopes(k.GetScopes()), k.GetUserId(), k.GetRatePerSecond(), k.GetRateBurst(),
		micros(k.GetCreatedAt()), micros(k.GetRevokedAt()), hash)
	if err != nil {
		// A concurrent insert of the same id or hash fails on the constraint instead.
		return fmt.Errorf("keystore: insert key %s: %w", k.GetKeyId(), err)
	}
	return nil
}

// KeyByHash returns the key stored under hash, revoked or not, or ErrNotFound.
func (s *Store) KeyByHash(ctx context.Context, hash []byte) (*gatewayv1.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: key by hash: %w", err)
	}
	return k, nil
}

// ListKeys returns every stored key, oldest first (ties by id).
func (s *Store) ListKeys(ctx context.Context) ([]*gatewayv1.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_us, key_id`)
	if err != nil {
		return nil, fmt.Errorf("keystore: list keys: %w", err)
	}
	defer rows.Close()
	var out []*gatewayv1.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("keystore: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keystore: list keys: %w", err)
	}
	return out, nil
}

// RevokeKey marks the key revoked at at; revoking a revoked key keeps the first time.
// It returns ErrNotFound for an unknown id.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_us = CASE WHEN revoked_us = 0 THEN $2 ELSE revoked_us END WHERE key_id = $1`,
		id, at.UnixMicro())
	if err != nil {
		return fmt.Errorf("keystore: revoke %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("keystore: revoke %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("keystore: revoke %s: %w", id, ErrNotFound)
	}
	return nil
}

// AppendAudit records e, filling its entry id from its time; e.at is required.
func (s *Store) AppendAudit(ctx context.Context, e *gatewayv1.AuditEntry) error {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return fmt.Errorf("keystore: audit id: %w", err)
	}
	at := micros(e.GetAt())
	id := fmt.Sprintf("%016x%08x", uint64(at), binary.BigEndian.Uint32(r[:]))
	if _, err := s.db.ExecContext(ctx, `INSERT INTO audit_log (entry_id, at_us, key_id, method, target, code, message) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, at, e.GetKeyId(), e.GetMethod(), e.GetTarget(), e.GetCode(), e.GetMessage()); err != nil {
		return fmt.Errorf("keystore: append audit: %w", err)
	}
	e.EntryId = id
	return nil
}

// AuditQuery selects a page of the audit log.
type AuditQuery struct {
	// KeyID, when set, keeps one key's entries.
	KeyID string
	// Before, when set, keeps entries older than this entry id (the previous page's last).
	Before string
	// Limit bounds the page; it must be positive.
	Limit int
}

// ListAudit returns entries newest first, and whether older ones remain.
func (s *Store) ListAudit(ctx context.Context, q AuditQuery) ([]*gatewayv1.AuditEntry, bool, error) {
	if q.Limit <= 0 {
		return nil, false, fmt.Errorf("keystore: list audit: limit %d must be positive", q.Limit)
	}
	query := `SELECT entry_id, at_us, key_id, method, target, code, message FROM audit_log WHERE 1 = 1`
	var args []any
	if q.KeyID != "" {
		args = append(args, q.KeyID)
		query += ` AND key_id = $` + strconv.Itoa(len(args))
	}
	if q.Before != "" {
		args = append(args, q.Before)
		query += ` AND entry_id < $` + strconv.Itoa(len(args))
	}
	args = append(args, q.Limit+1)
	query += ` ORDER BY entry_id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, false, fmt.Errorf("keystore: list audit: %w", err)
	}
	defer rows.Close()
	var out []*gatewayv1.AuditEntry
	for rows.Next() {
		e := &gatewayv1.AuditEntry{}
		var at int64
		if err := rows.Scan(&e.EntryId, &at, &e.KeyId, &e.Method, &e.Target, &e.Code, &e.Message); err != nil {
			return nil, false, fmt.Errorf("keystore: list audit: %w", err)
		}
		e.At = timestamppb.New(time.UnixMicro(at).UTC())
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("keystore: list audit: %w", err)
	}
	more := len(out) > q.Limit
	if more {
		out = out[:q.Limit]
	}
	return out, more, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanKey(r scanner) (*gatewayv1.Key, error) {
	k := &gatewayv1.Key{}
	var (
		scopes           string
		burst            int64
		created, revoked int64
	)
	if err := r.Scan(&k.KeyId, &k.Name, &scopes, &k.UserId, &k.RatePerSecond, &burst, &created, &revoked); err != nil {
		return nil, err
	}
	k.RateBurst = int32(burst)
	var err error
	if k.Scopes, err = parseScopes(scopes); err != nil {
		return nil, err
	}
	k.CreatedAt = timestamppb.New(time.UnixMicro(created).UTC())
	if revoked != 0 {
		k.RevokedAt = timestamppb.New(time.UnixMicro(revoked).UTC())
	}
	return k, nil
}

func formatScopes(scopes []gatewayv1.Scope) string {
	parts := make([]string, len(scopes))
	for i, sc := range scopes {
		parts[i] = strconv.Itoa(int(sc))
	}
	return strings.Join(parts, ",")
}

func parseScopes(s string) ([]gatewayv1.Scope, error) {
	if s == "" {
		return nil, nil
	}
	var out []gatewayv1.Scope
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, fmt.Errorf("scope %q: %w", p, err)
		}
		out = append(out, gatewayv1.Scope(n))
	}
	return out, nil
}

// micros converts a timestamp to the stored form; nil is 0.
func micros(ts *timestamppb.Timestamp) int64 {
	if ts == nil {
		return 0
	}
	return ts.AsTime().UnixMicro()
}
