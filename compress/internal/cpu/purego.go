//go:build purego

package cpu

// PureGo reports whether the program was built with the purego tag, which
// leaves every assembly kernel out of the build.
const PureGo = true
