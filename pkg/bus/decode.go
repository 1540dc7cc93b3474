package bus

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// DecodeProto unmarshals the message's value into m. A value that does not decode is a
// permanent error: retrying cannot fix it, so the message goes to the dead-letter topic.
func DecodeProto(msg Message, m proto.Message) error {
	if err := proto.Unmarshal(msg.Value, m); err != nil {
		return Permanent(fmt.Errorf("decode %s at %s/%d/%d: %w", m.ProtoReflect().Descriptor().FullName(), msg.Topic, msg.Partition, msg.Offset, err))
	}
	return nil
}
