package auth

import (
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// auditedMethods caches auditedMethod by full method name.
var auditedMethods sync.Map

// auditedMethod reports whether calls to method are admin actions worth recording:
// methods that need the admin scope and change something. A method is a read when its
// REST mapping is a GET; one without a REST mapping, or unknown, counts as a write.
func auditedMethod(method string) bool {
	if v, ok := auditedMethods.Load(method); ok {
		return v.(bool)
	}
	_, public := Policy[method]
	audited := !public && !isRead(method)
	auditedMethods.Store(method, audited)
	return audited
}

func isRead(method string) bool {
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return false
	}
	m := sd.Methods().ByName(protoreflect.Name(name))
	if m == nil {
		return false
	}
	rule, ok := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
	return ok && rule.GetGet() != ""
}

// maxTarget bounds the target recorded for one action.
const maxTarget = 256

// target names what an action touched: the request's top-level identifier fields (string
// fields named id or *_id), then those one level down in the response (the id of what a
// Create made) that the request did not already name, as "field=value" pairs.
func target(req, resp proto.Message) string {
	var parts []string
	seen := map[string]bool{} // name=value pairs already named by the request
	add := func(prefix string, m protoreflect.Message) {
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			name := string(f.Name())
			if f.Kind() != protoreflect.StringKind || f.IsList() || f.IsMap() || (name != "id" && !strings.HasSuffix(name, "_id")) {
				continue
			}
			if v := m.Get(f).String(); v != "" && !seen[name+"="+v] {
				seen[name+"="+v] = true
				parts = append(parts, prefix+name+"="+v)
			}
		}
	}
	if req != nil {
		add("", req.ProtoReflect())
	}
	if resp != nil {
		r := resp.ProtoReflect()
		fields := r.Descriptor().Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			if f.Kind() == protoreflect.MessageKind && !f.IsList() && !f.IsMap() && r.Has(f) {
				add(string(f.Name())+".", r.Get(f).Message())
			}
		}
	}
	t := strings.Join(parts, ",")
	if len(t) > maxTarget {
		t = t[:maxTarget]
	}
	return t
}

// codeName is the canonical name of c, as google.rpc.Code spells it (NOT_FOUND).
func codeName(c codes.Code) string {
	if n, ok := code.Code_name[int32(c)]; ok {
		return n
	}
	return c.String()
}
