// Package config loads component configuration from environment variables.
//
// Each component owns its Config struct with `env` and `envDefault` tags (the
// github.com/caarlos0/env library reads them) and a Validate method; this package only
// adds the suite's conventions: every variable is prefixed STRATA_ unless a standard name
// (such as OTEL_EXPORTER_OTLP_ENDPOINT) is given with the `noprefix` option of a parent.
package config

import (
	"fmt"

	"github.com/caarlos0/env/v11"
)

// Validator is a configuration that can check itself.
type Validator interface {
	Validate() error
}

// Load fills cfg from the environment, applying envDefault tags first, then validates it
// when cfg implements Validator.
func Load(cfg any) error {
	if err := env.Parse(cfg); err != nil {
		return fmt.Errorf("config: parse environment: %w", err)
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// Defaults fills cfg from its envDefault tags alone, ignoring the environment. Tests and
// the all-in-one command start from these.
func Defaults(cfg any) error {
	if err := env.ParseWithOptions(cfg, env.Options{Environment: map[string]string{}}); err != nil {
		return fmt.Errorf("config: defaults: %w", err)
	}
	return nil
}
