module github.com/stratahq/strata/services/strata

go 1.26.0

require (
	github.com/stratahq/strata/pkg v0.0.0
	github.com/stratahq/strata/proto v0.0.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace (
	github.com/stratahq/strata/pkg => ../../pkg
	github.com/stratahq/strata/proto => ../../proto
)
require github.com/stratahq/strata/services/ingest v0.0.0
replace github.com/stratahq/strata/services/ingest => ../ingest
require github.com/stratahq/strata/services/profile v0.0.0
replace github.com/stratahq/strata/services/profile => ../profile
require github.com/stratahq/strata/services/prediction v0.0.0
replace github.com/stratahq/strata/services/prediction => ../prediction
require github.com/stratahq/strata/services/recommendation v0.0.0
replace github.com/stratahq/strata/services/recommendation => ../recommendation
require github.com/stratahq/strata/services/crm v0.0.0
replace github.com/stratahq/strata/services/crm => ../crm
require github.com/stratahq/strata/services/gateway v0.0.0
replace github.com/stratahq/strata/services/gateway => ../gateway
