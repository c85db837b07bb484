// `ringcast-bench --self-test`: checks of the generator's own protocol and statistics code
// (frame reader split at every offset, masking, handshake verification, histogram,
// sequence tracking), so a figure it prints rests on code that was checked.
#pragma once

namespace ringcast::bench {

// Prints one line per failure and a closing "N passed, N failed"; returns the exit code.
int run_self_test();

}  // namespace ringcast::bench
