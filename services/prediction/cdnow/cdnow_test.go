package cdnow_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratahq/strata/services/prediction/cdnow"
)

func TestReadBothLayouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []cdnow.Transaction
	}{
		{"master with header", " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n",
			[]cdnow.Transaction{{"00001", time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC), 1, 11.77}, {"00002", time.Date(1997, 1, 12, 0, 0, 0, 0, time.UTC), 5, 77}}},
		{"sample", " 00004 0001 19970101  2   29.33\n\n 00021 0002 19971212  3   63.34\n",
			[]cdnow.Transaction{{"00004", time.Date(1997, 1, 1, 0, 0, 0, 0, time.UTC), 2, 29.33}, {"00021", time.Date(1997, 12, 12, 0, 0, 0, 0, time.UTC), 3, 63.34}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cdnow.Read(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d transactions, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("row %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadRejectsBadLines(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"00001 19970101 1 1.0\n00002 1997-01-01 1 1.0\n",
		"00001 19970101 1 1.0\n00002 19970101 x 1.0\n",
		"00001 19970101 1 1.0\n1 2 3\n",
	} {
		if _, err := cdnow.Read(strings.NewReader(in)); !errors.Is(err, cdnow.ErrFormat) {
			t.Errorf("Read(%q): got %v, want ErrFormat", in, err)
		}
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	txs := []cdnow.Transaction{{"7", time.Date(1997, 3, 4, 0, 0, 0, 0, time.UTC), 3, 29.99}, {"7", time.Date(1997, 3, 4, 0, 0, 0, 0, time.UTC), 1, 5}}
	evs := cdnow.Events(txs)
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	e := evs[0]
	if e.GetEvent() != "Order Completed" || e.GetUserId() != "7" || e.GetOrder().GetRevenueMinor() != 2999 ||
		e.GetOrder().GetItems()[0].GetQuantity() != 3 || e.GetTimestamp().AsTime().Hour() != 12 {
		t.Errorf("event: got %v", e)
	}
	if evs[0].GetEventId() == evs[1].GetEventId() {
		t.Errorf("two transactions of one day share event id %q", evs[0].GetEventId())
	}
}
