package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// rulesFingerprint is the digest of the protovalidate rules of strata.event.v1.Event as
// satisfiesRules repeats them. When event.proto's rules change, this test fails: update
// satisfiesRules (and FuzzRules' seeds), then this digest.
const rulesFingerprint = "9fa12261ad153586"

func TestRulesFingerprint(t *testing.T) {
	t.Parallel()
	md := (&eventv1.Event{}).ProtoReflect().Descriptor()
	var b strings.Builder
	opts := proto.MarshalOptions{Deterministic: true}
	msg, err := opts.Marshal(proto.GetExtension(md.Options(), validate.E_Message).(proto.Message))
	if err != nil {
		t.Fatal(err)
	}
	b.Write(msg)
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		rules, err := opts.Marshal(proto.GetExtension(fd.Options(), validate.E_Field).(proto.Message))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\x00" + string(fd.Name()) + "\x00")
		b.Write(rules)
		if fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() != "google.protobuf.Timestamp" &&
			fd.Message().FullName() != "google.protobuf.Struct" && fd.Name() != "order" {
			t.Errorf("field %s: a message field satisfiesRules does not know; teach it", fd.Name())
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	if got := hex.EncodeToString(sum[:8]); got != rulesFingerprint {
		t.Errorf("rules of strata.event.v1.Event changed (fingerprint %s, want %s): update satisfiesRules to match, then rulesFingerprint", got, rulesFingerprint)
	}
}

// FuzzRules checks that satisfiesRules accepts exactly what protovalidate accepts for
// events without an order.
func FuzzRules(f *testing.F) {
	f.Add("e1", int32(1), "Lesson Started", "u1", "", "", "", "", "src", true)
	f.Add("", int32(1), "X", "u1", "", "", "", "", "", true)
	f.Add("e1", int32(0), "X", "u1", "", "", "", "", "", true)
	f.Add("e1", int32(7), "X", "u1", "", "", "", "", "", true)
	f.Add("e1", int32(2), "", "", "a1", "", "", "", "", true)
	f.Add("e1", int32(1), "", "u1", "", "", "", "", "", true)
	f.Add("e1", int32(3), "", "", "", "", "", "Home", "", true)
	f.Add("e1", int32(1), "X", "u1", "", "", "", "", "", false)
	f.Add(strings.Repeat("é", 128), int32(6), "", "u1", "", strings.Repeat("p", 256), "", "", "", true)
	f.Add(strings.Repeat("é", 129), int32(5), "", "u1", "", "", "g", "", "", true)
	f.Add("e1", int32(4), "", "u1", "", "", "", strings.Repeat("n", 201), strings.Repeat("s", 129), true)
	f.Add("e1", int32(1), strings.Repeat("界", 200), strings.Repeat("u", 257), "", "", "", "", "", true)
	f.Add("e1", int32(1), "X", "", strings.Repeat("a", 257), "", strings.Repeat("g", 257), "", "", true)
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string, typ int32, event, user, anon, prev, group, name, source string, stamped bool) {
		ev := &eventv1.Event{
			EventId: id, Type: eventv1.EventType(typ), Event: event, UserId: user, AnonymousId: anon,
			PreviousId: prev, GroupId: group, Name: name, SourceId: source,
		}
		if stamped {
			ev.Timestamp = timestamppb.Now()
		}
		got, want := satisfiesRules(ev), v.Validate(ev) == nil
		if got != want {
			t.Fatalf("satisfiesRules(%v): got %v, protovalidate says valid=%v", ev, got, want)
		}
	})
}
