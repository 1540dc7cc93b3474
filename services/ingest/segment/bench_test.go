package segment_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stratahq/strata/services/ingest/segment"
)

// benchBody is a /v1/batch body of n track events like those the SDKs send.
func benchBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"sentAt":"2026-03-01T12:00:00Z","context":{"library":{"name":"analytics-go","version":"3.3.0"}},"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"track","event":"Lesson Completed","userId":"user-%d","messageId":"m-%d","timestamp":"2026-03-01T11:59:59Z","properties":{"course_id":"c-%d","minutes":12,"progress":0.5,"tags":["go","kafka"]}}`, i, i, i%300)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkDecodeBatch measures decoding a 100-message batch; events/s counts messages.
func BenchmarkDecodeBatch(b *testing.B) {
	body := benchBody(100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		decoded, err := segment.DecodeBatch(body, received)
		if err != nil || decoded[99].Err != nil {
			b.Fatal(err, decoded[99].Err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}
