// courier-chaos is no doctest program, but tests/support (TestStack, CourierApi) is written for
// doctest tests and refers to doctest's runtime. Outside a test it stays unused:
// doctest::is_running_in_test is false, so TestStack reports what it finds by StopAll() instead.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
