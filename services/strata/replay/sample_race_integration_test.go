//go:build integration && race

package replay_test

// Sample sizes of TestReplayReal under the race detector, which slows the suite's
// pipeline about twentyfold: the first CDNOW rows still spread their customers over
// every partition.
const (
	movieLensRows = 100
	cdnowRows     = 60
)
