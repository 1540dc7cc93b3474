// Package openapi embeds the OpenAPI document generated from the protobuf contracts
// (make proto), which the gateway serves at /openapi.json.
package openapi

import _ "embed"

// Spec is the merged OpenAPI (Swagger 2.0) document of every Strata API.
//
//go:embed strata.swagger.json
var Spec []byte
