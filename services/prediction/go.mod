module github.com/stratahq/strata/services/prediction

go 1.26.0

require (
	github.com/stratahq/strata/pkg v0.0.0
	github.com/stratahq/strata/proto v0.0.0
)

replace (
	github.com/stratahq/strata/pkg => ../../pkg
	github.com/stratahq/strata/proto => ../../proto
)
