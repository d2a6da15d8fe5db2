package admin

// Unlisted is unlisted, for the benchmarks of package admin_test.
const Unlisted = unlisted
