package data

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (image folders
// are decoded on several).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
