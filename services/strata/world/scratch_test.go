package world

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stratahq/strata/services/strata/sink"
)

func TestScratch(t *testing.T) {
	cfg := Config{Seed: 42, Users: 5000, Items: 300, Days: 180, End: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}
	w, _ := New(cfg)
	counts := map[string]int{}
	users := map[string]int{}
	bytes := 0
	st := time.Now()
	err := w.Generate(context.Background(), func(m sink.Message) error {
		k := m.Event
		if k == "" { k = m.Type }
		counts[k]++
		users[m.UserID]++
		b, _ := json.Marshal(m)
		bytes += len(b)
		return nil
	})
	total := 0
	for _, c := range counts { total += c }
	fmt.Println(err, time.Since(st), total, len(users), bytes)
	for k, c := range counts { fmt.Println(k, c) }
	for _, it := range w.Items()[:5] { b, _ := json.Marshal(it); fmt.Println(string(b)) }
}
