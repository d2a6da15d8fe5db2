package admin

// BanBody is banBody, for the benchmarks of package admin_test.
var BanBody = banBody

// Unlisted is unlisted, for the benchmarks of package admin_test.
const Unlisted = unlisted
