package model

// MixtureWeights exposes mixtureWeights to the external tests.
var MixtureWeights = mixtureWeights
