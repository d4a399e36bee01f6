//go:build race

package runtime

// raceEnabled is set when the race detector is on: it allocates on its
// own, so allocation counts are not checked then.
const raceEnabled = true
