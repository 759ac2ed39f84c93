//go:build !race

package cache

// checkShards: see check_race.go.
const checkShards = false
