// Package cdnow reads the CDNOW purchase histories (Fader & Hardie's research data set)
// and turns them into Strata's canonical events, so that evaluation replays them
// through the same code that scores live traffic.
//
// Both published files are understood: CDNOW_master.txt (`customer_id date cds
// dollars`, with a header line) and CDNOW_sample.txt (`master_id sample_id date cds
// dollars`, no header). The data set itself is not part of the product; tests find it
// with [FindDataset].
package cdnow

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
	"github.com/stratahq/strata/services/prediction/dataset"
)

// ErrFormat is returned for a line that is neither of the two CDNOW layouts.
var ErrFormat = errors.New("cdnow: unrecognised line")

// Transaction is one line of a CDNOW file: a customer bought CDs on a day.
type Transaction struct {
	Customer string
	Date     time.Time
	CDs      int
	Dollars  float64
}

// Read parses a CDNOW file in either layout. A first line that does not parse (the
// master file's header) is skipped; any other bad line is an error naming it.
func Read(r io.Reader) ([]Transaction, error) {
	var out []Transaction
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		tx, err := parse(fields)
		if err != nil {
			if n == 1 {
				continue
			}
			return nil, fmt.Errorf("cdnow: line %d: %w", n, err)
		}
		out = append(out, tx)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cdnow: read: %w", err)
	}
	return out, nil
}

// ReadFile parses the named CDNOW file.
func ReadFile(path string) ([]Transaction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cdnow: %w", err)
	}
	defer f.Close()
	return Read(f)
}

func parse(fields []string) (Transaction, error) {
	var id, date, cds, dollars string
	switch len(fields) {
	case 4:
		id, date, cds, dollars = fields[0], fields[1], fields[2], fields[3]
	case 5:
		// The sample keeps the master id first; it is the stable customer id.
		id, date, cds, dollars = fields[0], fields[2], fields[3], fields[4]
	default:
		return Transaction{}, fmt.Errorf("%w: %d fields", ErrFormat, len(fields))
	}
	d, err := time.Parse("20060102", date)
	if err != nil {
		return Transaction{}, fmt.Errorf("%w: date %q", ErrFormat, date)
	}
	n, err := strconv.Atoi(cds)
	if err != nil {
		return Transaction{}, fmt.Errorf("%w: cds %q", ErrFormat, cds)
	}
	v, err := strconv.ParseFloat(dollars, 64)
	if err != nil {
		return Transaction{}, fmt.Errorf("%w: dollars %q", ErrFormat, dollars)
	}
	return Transaction{Customer: id, Date: d, CDs: n, Dollars: v}, nil
}

// Events returns one Order Completed event per transaction, in file order, as ingest
// would publish them: user id = customer, timestamp = noon UTC of the day, revenue in
// cents of USD, one order line with the number of CDs.
func Events(txs []Transaction) []*eventv1.Event {
	out := make([]*eventv1.Event, len(txs))
	for i, tx := range txs {
		id := fmt.Sprintf("cdnow-%s-%d", tx.Customer, i)
		out[i] = &eventv1.Event{
			EventId:   id,
			Type:      eventv1.EventType_EVENT_TYPE_TRACK,
			Event:     "Order Completed",
			UserId:    tx.Customer,
			Timestamp: timestamppb.New(tx.Date.Add(12 * time.Hour)),
			Order: &eventv1.Order{
				OrderId:      id,
				RevenueMinor: int64(math.Round(max(tx.Dollars, 0) * 100)),
				Currency:     "USD",
				Items:        []*eventv1.OrderItem{{ItemId: "cd", Quantity: int32(tx.CDs)}},
			},
		}
	}
	return out
}

// FindDataset returns the path of shared/datasets/cdnow/name above the working
// directory, or false when it is absent (a clone outside the project's workspace).
func FindDataset(name string) (string, bool) { return dataset.Find("cdnow", name) }
