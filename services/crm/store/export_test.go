package store

import (
	"context"
	"fmt"
)

// CountContaining counts the rows of table whose col contains needle (tests only: the
// names are the test's own).
func (s *Store) CountContaining(ctx context.Context, table, col, needle string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE %s LIKE $1`, table, col), "%"+needle+"%").Scan(&n)
	return n, err
}

// RebuildRollups empties the revenue roll-ups and fills them from the stored rows, as
// migration 7 does (tests and the benchmark's bulk load only).
func (s *Store) RebuildRollups(ctx context.Context) error {
	return s.inTx(ctx, func(t *Tx) error {
		for _, table := range []string{"revenue_rollups", "activity_rollups"} {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
				return err
			}
		}
		return fillRollups(ctx, t.tx)
	})
}
