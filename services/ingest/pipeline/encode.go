package pipeline

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	eventv1 "github.com/stratahq/strata/proto/strata/event/v1"
)

// appendEvent appends the protobuf encoding of ev to buf.
//
// The free-form fields (context, properties, traits: google.protobuf.Struct) are encoded
// here, directly, and appended after the rest of the event, which proto encodes: the
// generic encoder walks a Struct's map by reflection and was the largest cost of
// publishing. Fields may appear in any order on the wire and a parser reads the result as
// proto.Marshal(ev) (TestAppendEvent, FuzzValidate). Structs nested deeper than
// maxEncodeDepth go through proto.
func appendEvent(buf []byte, ev *eventv1.Event) ([]byte, error) {
	free := [...]*structpb.Struct{ev.Context, ev.Properties, ev.Traits}
	ev.Context, ev.Properties, ev.Traits = nil, nil, nil
	out, err := proto.MarshalOptions{}.MarshalAppend(buf, ev)
	ev.Context, ev.Properties, ev.Traits = free[0], free[1], free[2]
	if err != nil {
		return buf, err
	}
	for i, s := range free {
		if s == nil {
			continue
		}
		if out, err = appendStructField(out, freeFormFields[i], s, 1); err != nil {
			if errors.Is(err, errTooDeep) {
				return proto.MarshalOptions{}.MarshalAppend(buf, ev)
			}
			return buf, err
		}
	}
	return out, nil
}

// freeFormFields are the numbers of Event's context, properties and traits.
var freeFormFields = func() [3]protowire.Number {
	fields := (&eventv1.Event{}).ProtoReflect().Descriptor().Fields()
	return [3]protowire.Number{
		fields.ByName("context").Number(),
		fields.ByName("properties").Number(),
		fields.ByName("traits").Number(),
	}
}()

// Field numbers of google.protobuf.Struct, Value and ListValue (struct.proto; a
// well-known type, stable).
const (
	structFields protowire.Number = 1 // map<string, Value> fields
	mapKey       protowire.Number = 1
	mapValue     protowire.Number = 2
	valueNull    protowire.Number = 1
	valueNumber  protowire.Number = 2
	valueString  protowire.Number = 3
	valueBool    protowire.Number = 4
	valueStruct  protowire.Number = 5
	valueList    protowire.Number = 6
	listValues   protowire.Number = 1
)

const (
	// maxEncodeDepth bounds the nesting the direct encoder takes on: each level moves its
	// contents once to close the gap left for its length, so deeper input goes to proto.
	maxEncodeDepth = 32
	// lengthRoom is the room left for a length before it is known: up to 2^35-1 bytes.
	lengthRoom = 5
)

var (
	errTooDeep    = errors.New("struct nests too deep for the direct encoder")
	errInvalidUTF = errors.New("string is not valid UTF-8")
)

// openLength appends the tag of a length-delimited field num and room for its length;
// closeLength writes the length of what was appended since and closes the gap.
func openLength(buf []byte, num protowire.Number) ([]byte, int) {
	buf = protowire.AppendTag(buf, num, protowire.BytesType)
	return append(buf, make([]byte, lengthRoom)...), len(buf)
}

func closeLength(buf []byte, at int) []byte {
	n := len(buf) - at - lengthRoom
	var l [lengthRoom]byte
	ll := protowire.AppendVarint(l[:0], uint64(n))
	copy(buf[at:], ll)
	copy(buf[at+len(ll):], buf[at+lengthRoom:])
	return buf[:len(buf)-(lengthRoom-len(ll))]
}

func appendStructField(buf []byte, num protowire.Number, s *structpb.Struct, depth int) ([]byte, error) {
	if depth > maxEncodeDepth {
		return buf, errTooDeep
	}
	buf, at := openLength(buf, num)
	for k, v := range s.GetFields() {
		if !utf8.ValidString(k) {
			return buf, fmt.Errorf("struct key %q: %w", k, errInvalidUTF)
		}
		var entry int
		buf, entry = openLength(buf, structFields)
		buf = protowire.AppendTag(buf, mapKey, protowire.BytesType)
		buf = protowire.AppendString(buf, k)
		var err error
		if buf, err = appendValueField(buf, mapValue, v, depth); err != nil {
			return buf, err
		}
		buf = closeLength(buf, entry)
	}
	return closeLength(buf, at), nil
}

func appendValueField(buf []byte, num protowire.Number, v *structpb.Value, depth int) ([]byte, error) {
	buf, at := openLength(buf, num)
	var err error
	switch k := v.GetKind().(type) {
	case nil:
	case *structpb.Value_NullValue:
		buf = protowire.AppendTag(buf, valueNull, protowire.VarintType)
		buf = protowire.AppendVarint(buf, uint64(k.NullValue))
	case *structpb.Value_NumberValue:
		buf = protowire.AppendTag(buf, valueNumber, protowire.Fixed64Type)
		buf = protowire.AppendFixed64(buf, math.Float64bits(k.NumberValue))
	case *structpb.Value_StringValue:
		if !utf8.ValidString(k.StringValue) {
			return buf, errInvalidUTF
		}
		buf = protowire.AppendTag(buf, valueString, protowire.BytesType)
		buf = protowire.AppendString(buf, k.StringValue)
	case *structpb.Value_BoolValue:
		buf = protowire.AppendTag(buf, valueBool, protowire.VarintType)
		buf = protowire.AppendVarint(buf, protowire.EncodeBool(k.BoolValue))
	case *structpb.Value_StructValue:
		if k.StructValue == nil {
			buf, err = appendStructField(buf, valueStruct, &structpb.Struct{}, depth+1)
		} else {
			buf, err = appendStructField(buf, valueStruct, k.StructValue, depth+1)
		}
	case *structpb.Value_ListValue:
		if depth+1 > maxEncodeDepth {
			return buf, errTooDeep
		}
		var list int
		buf, list = openLength(buf, valueList)
		for _, e := range k.ListValue.GetValues() {
			if buf, err = appendValueField(buf, listValues, e, depth+1); err != nil {
				return buf, err
			}
		}
		buf = closeLength(buf, list)
	default:
		return buf, fmt.Errorf("unknown struct value kind %T", k)
	}
	if err != nil {
		return buf, err
	}
	return closeLength(buf, at), nil
}
