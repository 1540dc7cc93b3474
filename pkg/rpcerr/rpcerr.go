// Package rpcerr is the suite's error model at its edges: google.rpc.Status with
// google.rpc.BadRequest field violations for bad input, so gRPC clients and REST clients
// (through grpc-gateway, which renders the status as JSON) both learn which field is wrong.
package rpcerr

import (
	"errors"
	"fmt"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// FieldViolation names one bad field.
type FieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// InvalidArgument returns an InvalidArgument status carrying the violations.
func InvalidArgument(violations ...FieldViolation) error {
	msg := "invalid argument"
	if len(violations) > 0 {
		msg = fmt.Sprintf("invalid %s: %s", violations[0].Field, violations[0].Description)
	}
	br := &errdetails.BadRequest{}
	for _, v := range violations {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field: v.Field, Description: v.Description,
		})
	}
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(br)
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}

// Violations converts a protovalidate error into field violations; ok is false when err
// is not a validation error.
func Violations(err error) (vs []FieldViolation, ok bool) {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return nil, false
	}
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		if field == "" {
			field = v.Proto.GetRuleId()
		}
		vs = append(vs, FieldViolation{Field: field, Description: v.Proto.GetMessage()})
	}
	return vs, true
}

// FromValidation maps a protovalidate error to InvalidArgument with field violations and
// any other error to Internal.
func FromValidation(err error) error {
	if vs, ok := Violations(err); ok {
		return InvalidArgument(vs...)
	}
	return status.Errorf(codes.Internal, "validate: %v", err)
}
