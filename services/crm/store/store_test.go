package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// runContract checks what every database behind the CRM must do: migrate to the latest
// version, migrate again without change, and take reads and writes of the schema.
func runContract(t *testing.T, cfg Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	db, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	v, err := db.Version(ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if v < 1 {
		t.Fatalf("schema version: got %d, want at least 1", v)
	}

	again, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if v2, err := again.Version(ctx); err != nil || v2 != v {
		t.Errorf("version after second Open: got %d (%v), want %d", v2, err, v)
	}
	_ = again.Close()

	user := "contract-" + time.Now().Format("150405.000000000")
	now := time.Now().UTC().Truncate(time.Second)
	insert := `INSERT INTO customers (user_id, first_seen, last_interaction, orders, revenue_minor, currency) VALUES ($1, $2, $3, $4, $5, $6)`
	if _, err := db.ExecContext(ctx, insert, user, now, now, 2, 19900, "CNY"); err != nil {
		t.Fatalf("insert customer: %v", err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), `DELETE FROM customers WHERE user_id = $1`, user) })
	var (
		orders, revenue int64
		currency        string
	)
	if err := db.QueryRowContext(ctx, `SELECT orders, revenue_minor, currency FROM customers WHERE user_id = $1`, user).
		Scan(&orders, &revenue, &currency); err != nil {
		t.Fatalf("select customer: %v", err)
	}
	if orders != 2 || revenue != 19900 || currency != "CNY" {
		t.Errorf("customer: got (%d, %d, %s), want (2, 19900, CNY)", orders, revenue, currency)
	}
	if _, err := db.ExecContext(ctx, insert, user, now, now, 1, 1, "CNY"); err == nil {
		t.Errorf("duplicate customer insert: got nil error, want a primary-key violation")
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	runContract(t, Config{SQLitePath: filepath.Join(t.TempDir(), "crm.db")})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	if got, want := (Config{}).Validate(), ErrNoDatabase; got != want {
		t.Errorf("empty config: got %v, want %v", got, want)
	}
}
