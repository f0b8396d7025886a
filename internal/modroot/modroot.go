// Package modroot finds this module's root directory, so test helpers run
// from any package directory can reach tools/, events/ and functions/.
package modroot

import (
	"errors"
	"os"
	"path/filepath"
)

// Dir returns the nearest directory holding go.mod, from the working
// directory up (tests run in their package's directory).
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
