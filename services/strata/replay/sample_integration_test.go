//go:build integration && !race

package replay_test

// Sample sizes of TestReplayReal: enough users to spread over every partition, small
// enough to arrive in seconds on real Kafka.
const (
	movieLensRows = 250
	cdnowRows     = 150
)
