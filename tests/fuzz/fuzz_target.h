// The libFuzzer entry point every fuzz target defines. Built with clang and -fsanitize=fuzzer
// (scripts/check/fuzz.sh) it is driven by libFuzzer; built with replay_main.cpp it replays the seed
// corpus in tests/fuzz/corpus/<target>/ as a CTest test, with any compiler.
//
// A target calls the parser on the bytes and lets through only the documented error type;
// any other exception escapes and aborts, and a crash or sanitizer report is a finding.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
