package store

import (
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recommendationv1 "github.com/stratahq/strata/proto/strata/recommendation/v1"
)

func TestDecodeListItemsMatchesProto(t *testing.T) {
	t.Parallel()
	full := &recommendationv1.RecommendResponse{Variant: "ease", Source: "cache", ModelVersion: "v9"}
	for i := range 50 {
		full.Items = append(full.Items, &recommendationv1.Recommendation{ItemId: fmt.Sprintf("item-%d", i), Score: 1 / float64(i+1) * float64(1-2*(i%2)), Reason: fmt.Sprintf("because you bought “课程 %d”", i%3)})
	}
	withUnknown, err := proto.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	withUnknown = protowire.AppendTag(withUnknown, 99, protowire.BytesType)
	withUnknown = protowire.AppendString(withUnknown, "a field of a later version")
	tests := []struct {
		name string
		msg  *recommendationv1.RecommendResponse
		raw  []byte
	}{
		{"full", full, nil},
		{"empty", &recommendationv1.RecommendResponse{}, nil},
		{"zero item", &recommendationv1.RecommendResponse{Items: []*recommendationv1.Recommendation{{}}}, nil},
		{"unknown fields", full, withUnknown},
	}
	for _, tc := range tests {
		raw := tc.raw
		if raw == nil {
			if raw, err = proto.Marshal(tc.msg); err != nil {
				t.Fatal(err)
			}
		}
		got, err := decodeListItems(string(raw))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		want := []ListItem{}
		for _, it := range tc.msg.GetItems() {
			want = append(want, ListItem{ID: it.GetItemId(), Score: it.GetScore(), Reason: it.GetReason()})
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, want)
		}
	}
	raw, _ := proto.Marshal(full)
	for _, bad := range [][]byte{raw[:len(raw)-3], {0x0a, 0x05, 0x0a}, {0xff}} {
		if _, err := decodeListItems(string(bad)); err == nil {
			t.Errorf("decode %x: got no error", bad)
		}
	}
}
