// A TCP port on the loopback interface for a rendezvous store in a test.
#pragma once

namespace ftl::testing {

/// A TCP port that was free a moment ago (another process may take it before the test does).
int free_port();

}  // namespace ftl::testing
