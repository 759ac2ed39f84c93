//go:build race

package cache

// checkShards turns on, in race-detector builds (which the tests run), checks of
// the locking shortcuts that the race detector itself cannot see through.
const checkShards = true
