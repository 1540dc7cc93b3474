package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stratahq/strata/services/strata/sink"
)

// CDNOW is a CDNOW purchase history as `Order Completed` events of users
// "cdnow-<customer id>". Both published layouts are read: the master file
// (customer_id date cds dollars, after a header line) and the 1/10 sample
// (master_id sample_id date cds dollars); the sample's users are named by their master
// id, so they match the master's. A row happened at midnight UTC of its date; its
// revenue is in USD, as the Segment spec has it (dollars) and in minor units (cents,
// revenue_minor), and its quantity is the number of CDs.
type CDNOW struct {
	opt   Options
	rows  []purchase
	users int
}

type purchase struct {
	customer int32
	line     int32
	date     int32 // days since the Unix epoch
	cds      int32
	cents    int64
}

// OpenCDNOW reads the file at path (.gz is decompressed).
func OpenCDNOW(path string, opt Options) (*CDNOW, error) {
	f, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCDNOW(f, opt)
}

// ReadCDNOW reads a CDNOW file.
func ReadCDNOW(r io.Reader, opt Options) (*CDNOW, error) {
	c := &CDNOW{opt: opt}
	users := map[int32]struct{}{}
	err := lines(r, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil
		}
		if _, err := strconv.Atoi(f[0]); err != nil && n == 1 {
			return nil // the master file's header
		}
		if opt.Limit > 0 && len(c.rows) >= opt.Limit {
			return errStop
		}
		if len(f) == 5 {
			f = append(f[:1], f[2:]...) // drop the sample id
		}
		if len(f) != 4 {
			return fmt.Errorf("%w: line %d: want 4 or 5 fields, got %d", ErrFormat, n, len(f))
		}
		id, err1 := strconv.ParseInt(f[0], 10, 32)
		date, err2 := time.Parse("20060102", f[1])
		cds, err3 := strconv.ParseInt(f[2], 10, 32)
		dollars, err4 := strconv.ParseFloat(f[3], 64)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrFormat, n, err)
		}
		if dollars < 0 || cds < 0 {
			return fmt.Errorf("%w: line %d: negative amount", ErrFormat, n)
		}
		c.rows = append(c.rows, purchase{
			customer: int32(id), line: int32(n), date: int32(date.Unix() / 86400),
			cds: int32(cds), cents: int64(math.Round(dollars * 100)),
		})
		users[int32(id)] = struct{}{}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, err
	}
	c.users = len(users)
	slices.SortStableFunc(c.rows, func(a, b purchase) int { return int(a.date - b.date) })
	return c, nil
}

// Items implements Source: CDNOW names no products.
func (c *CDNOW) Items() []sink.Item { return nil }

// Len implements Source.
func (c *CDNOW) Len() int { return len(c.rows) }

// Users is the number of distinct customers.
func (c *CDNOW) Users() int { return c.users }

// Each implements Source, in date order (file order within a day).
func (c *CDNOW) Each(ctx context.Context, fn func(sink.Message) error) error {
	for i, p := range c.rows {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		user := c.opt.Prefix + "cdnow-" + strconv.Itoa(int(p.customer))
		order := user + "-" + strconv.Itoa(int(p.line))
		err := fn(sink.Message{
			Type:      "track",
			Event:     "Order Completed",
			MessageID: order,
			UserID:    user,
			Timestamp: time.Unix(int64(p.date)*86400, 0).UTC(),
			Properties: map[string]any{
				"order_id":      order,
				"revenue":       float64(p.cents) / 100,
				"revenue_minor": p.cents,
				"currency":      "USD",
				"quantity":      p.cds,
			},
		})
		if err != nil {
			return err
		}
	}
	return nil
}
