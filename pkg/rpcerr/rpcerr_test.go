package rpcerr_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/stratahq/strata/pkg/rpcerr"
)

func badRequest(t *testing.T, err error) *errdetails.BadRequest {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%v: not a status error", err)
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			return br
		}
	}
	return nil
}

func TestInvalidArgument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		violations  []rpcerr.FieldViolation
		wantMessage string
	}{
		{
			name:        "one",
			violations:  []rpcerr.FieldViolation{{Field: "user_id", Description: "value is required"}},
			wantMessage: "invalid user_id: value is required",
		},
		{
			name: "several",
			violations: []rpcerr.FieldViolation{
				{Field: "events[2].event_id", Description: "value length must be at least 1 characters"},
				{Field: "events[2].timestamp", Description: "value is required"},
			},
			wantMessage: "invalid events[2].event_id: value length must be at least 1 characters",
		},
		{name: "none", wantMessage: "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rpcerr.InvalidArgument(tt.violations...)
			st := status.Convert(err)
			if got, want := st.Code(), codes.InvalidArgument; got != want {
				t.Errorf("code: got %v, want %v", got, want)
			}
			if got := st.Message(); got != tt.wantMessage {
				t.Errorf("message: got %q, want %q", got, tt.wantMessage)
			}
			br := badRequest(t, err)
			if br == nil {
				t.Fatalf("details: got no BadRequest, want one")
			}
			var got []rpcerr.FieldViolation
			for _, v := range br.GetFieldViolations() {
				got = append(got, rpcerr.FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
			if !slices.Equal(got, tt.violations) {
				t.Errorf("field violations: got %v, want %v", got, tt.violations)
			}
		})
	}
}

func violation(field, rule, message string) *protovalidate.Violation {
	v := &validate.Violation{}
	v.SetRuleId(rule)
	v.SetMessage(message)
	if field != "" {
		el := &validate.FieldPathElement{}
		el.SetFieldName(field)
		fp := &validate.FieldPath{}
		fp.SetElements([]*validate.FieldPathElement{el})
		v.SetField(fp)
	}
	return &protovalidate.Violation{Proto: v}
}

func TestViolations(t *testing.T) {
	t.Parallel()
	verr := &protovalidate.ValidationError{Violations: []*protovalidate.Violation{
		violation("event_id", "string.min_len", "value length must be at least 1 characters"),
		violation("", "event.identity", "user_id or anonymous_id is required"),
	}}
	want := []rpcerr.FieldViolation{
		{Field: "event_id", Description: "value length must be at least 1 characters"},
		{Field: "event.identity", Description: "user_id or anonymous_id is required"},
	}
	tests := []struct {
		name   string
		err    error
		want   []rpcerr.FieldViolation
		wantOK bool
	}{
		{name: "validation error", err: verr, want: want, wantOK: true},
		{name: "wrapped validation error", err: fmt.Errorf("validate: %w", verr), want: want, wantOK: true},
		{name: "plain error", err: errors.New("compile: bad rule"), wantOK: false},
		{name: "compilation error", err: &protovalidate.CompilationError{}, wantOK: false},
		{name: "nil", err: nil, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := rpcerr.Violations(tt.err)
			if ok != tt.wantOK {
				t.Errorf("ok: got %v, want %v", ok, tt.wantOK)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFromValidation(t *testing.T) {
	t.Parallel()
	verr := &protovalidate.ValidationError{Violations: []*protovalidate.Violation{
		violation("user_id", "string.min_len", "value length must be at least 1 characters"),
	}}
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantFields []string
	}{
		{name: "validation error", err: verr, wantCode: codes.InvalidArgument, wantFields: []string{"user_id"}},
		{name: "other error", err: errors.New("compile: bad rule"), wantCode: codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rpcerr.FromValidation(tt.err)
			if got := status.Code(err); got != tt.wantCode {
				t.Errorf("code: got %v, want %v", got, tt.wantCode)
			}
			var fields []string
			if br := badRequest(t, err); br != nil {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("field violations: got %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestFieldViolationJSON(t *testing.T) {
	t.Parallel()
	// The HTTP API renders FieldViolation as JSON; the names are part of its contract.
	b, err := json.Marshal(rpcerr.FieldViolation{Field: "body", Description: "malformed"})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if got, want := string(b), `{"field":"body","description":"malformed"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
