#pragma once
// Error types shared by every layer. `InputError` means the user gave something we cannot use
// (scenario YAML, trace file, CLI flag): the CLI prints it once and exits with code 2.
// Anything else that escapes is an internal error (exit 1).
#include <stdexcept>
#include <string>

namespace hetsim {

/// Bad user input; the message already names the file, line / key path, bad value and expectation.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An engine invariant was violated (a bug in hetsim, never a user mistake).
class InvariantError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace hetsim

#include <cstdio>
#include <exception>

#include "sim/core/interrupt.hpp"

namespace hetsim {

/// Runs a program's body and maps what escapes to the exit codes every hetsim program uses:
/// InputError -> one "error: ..." line and 2; anything else -> "internal error: ..." and 1.
template <class Body>
int exit_code_of(Body body) {
  try {
    return body();
  } catch (const interrupt::Interrupted& e) {
    std::fprintf(stderr, "interrupted\n");
    return e.exit_code();
  } catch (const InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 1;
  }
}

}  // namespace hetsim
