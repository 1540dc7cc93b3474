package privacy_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/stratahq/strata/pkg/bus"
	"github.com/stratahq/strata/pkg/bustest"
	"github.com/stratahq/strata/pkg/topics"
	privacyv1 "github.com/stratahq/strata/proto/strata/privacy/v1"
	"github.com/stratahq/strata/services/ingest/privacy"
)

func TestRequestErasure(t *testing.T) {
	t.Parallel()
	pub := &bustest.Recorder{}
	r := privacy.NewRequester(pub, "")
	for _, id := range []string{"req-1", ""} {
		req, err := r.RequestErasure(t.Context(), "u1", id)
		if err != nil {
			t.Fatalf("RequestErasure(%q): %v", id, err)
		}
		if id != "" && req.GetRequestId() != id || req.GetRequestId() == "" {
			t.Errorf("request id: got %q, want %q (or a random one when empty)", req.GetRequestId(), id)
		}
	}
	msgs := pub.Messages()
	if len(msgs) != 2 {
		t.Fatalf("published: got %d records, want 2", len(msgs))
	}
	for _, m := range msgs {
		got, err := privacy.Decode(m)
		if err != nil || got.GetUserId() != "u1" || string(m.Key) != "u1" || m.Topic != topics.Privacy {
			t.Errorf("record: got topic %s key %q request %v (%v), want an erasure of u1 keyed u1 on %s", m.Topic, m.Key, got, err, topics.Privacy)
		}
	}
	if _, err := r.RequestErasure(t.Context(), "", ""); !errors.Is(err, privacy.ErrMissingUser) {
		t.Errorf("RequestErasure without a user: got %v, want ErrMissingUser", err)
	}
	pub.SetErr(errors.New("broker down"))
	if _, err := r.RequestErasure(t.Context(), "u1", ""); err == nil {
		t.Errorf("RequestErasure with Kafka down: got nil error")
	}
}

type fakeIdentities struct {
	forgot []string
	err    error
}

func (f *fakeIdentities) ForgetUser(_ context.Context, userID string) (int, error) {
	f.forgot = append(f.forgot, userID)
	return 1, f.err
}

func encode(t *testing.T, r *privacyv1.PrivacyRequest) bus.Message {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Topic: topics.Privacy, Key: []byte(r.GetUserId()), Value: b}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	erase := &privacyv1.PrivacyRequest{RequestId: "r1", UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}
	down := errors.New("down")
	tests := []struct {
		name          string
		msg           bus.Message
		forgetErr     error
		publishErr    error
		wantForgot    int
		wantErr       bool
		wantPermanent bool
		wantReceipt   bool
	}{
		{"erase", encode(t, erase), nil, nil, 1, false, false, true},
		{"other action skipped", encode(t, &privacyv1.PrivacyRequest{RequestId: "r2", UserId: "u1"}), nil, nil, 0, false, false, false},
		{"no request id", encode(t, &privacyv1.PrivacyRequest{UserId: "u1", Action: privacyv1.PrivacyAction_PRIVACY_ACTION_ERASE}), nil, nil, 0, true, true, false},
		{"undecodable", bus.Message{Topic: topics.Privacy, Key: []byte("u1"), Value: []byte{0xff}}, nil, nil, 0, true, true, false},
		{"redis down retried", encode(t, erase), down, nil, 1, true, false, false},
		{"kafka down retried", encode(t, erase), nil, down, 1, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ids := &fakeIdentities{err: tt.forgetErr}
			pub := &bustest.Recorder{}
			pub.SetErr(tt.publishErr)
			err := privacy.NewHandler(ids, pub, nil).Handle(t.Context(), tt.msg)
			if (err != nil) != tt.wantErr || bus.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("Handle: got %v (permanent %v), want error %v permanent %v", err, bus.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
			if len(ids.forgot) != tt.wantForgot {
				t.Errorf("ForgetUser calls: got %q, want %d", ids.forgot, tt.wantForgot)
			}
			if !tt.wantReceipt {
				return
			}
			msgs := pub.Messages()
			var r privacyv1.ErasureReceipt
			if len(msgs) != 1 || msgs[0].Topic != topics.PrivacyReceipts || string(msgs[0].Key) != "r1/ingest" || proto.Unmarshal(msgs[0].Value, &r) != nil ||
				r.GetUserId() != "u1" || r.GetService() != privacy.ReceiptService || r.GetItems() != 1 || r.GetCompletedAt() == nil {
				t.Errorf("receipt: got %v (%v), want ingest's receipt of r1 keyed r1/ingest on %s", msgs, &r, topics.PrivacyReceipts)
			}
		})
	}
}
