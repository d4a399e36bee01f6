//go:build !race

package runtime

// raceEnabled is set when the race detector is on.
const raceEnabled = false
