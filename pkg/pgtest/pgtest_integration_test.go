//go:build integration

package pgtest_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stratahq/strata/pkg/pgtest"
)

// TestSchema checks that a schema's tables are invisible from another schema and that
// the search path lands writes in it.
func TestSchema(t *testing.T) {
	t.Parallel()
	a, b := pgtest.Schema(t, "pgtest"), pgtest.Schema(t, "pgtest")
	ctx := context.Background()
	open := func(u string) *sql.DB {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	da, db := open(a), open(b)
	if _, err := da.ExecContext(ctx, `CREATE TABLE things (id int)`); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := da.QueryRowContext(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = 'things'`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if got := db.QueryRowContext(ctx, `SELECT count(*) FROM things`).Scan(new(int)); got == nil {
		t.Errorf("schema %s sees the table created in %s", b, schema)
	}
}
