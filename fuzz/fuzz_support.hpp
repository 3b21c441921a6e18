#pragma once
// Shared by the libFuzzer targets (fuzz/README.md). The contract every target checks: bad bytes may
// only end in an InputError (the CLI's one-line message and exit 2). Any other exception escaping a
// reader or loader, a crash, a sanitizer report or a hang is a finding.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>

#include "sim/core/error.hpp"

namespace hetsim::fuzz {

/// Inputs refused with an InputError so far (the replay driver reports it, to show the seeds load).
inline long input_errors = 0;
/// The last such message, for the replay driver's report.
inline std::string last_input_error;

/// Runs `body`; an InputError is the expected answer to bad input, anything else aborts so that
/// libFuzzer records the input.
template <class Body>
void expect_input_errors_only(Body body) {
  try {
    body();
  } catch (const InputError& e) {
    ++input_errors;
    last_input_error = e.what();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: %s escaped (expected only InputError): %s\n", typeid(e).name(), e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz finding: a non-std exception escaped\n");
    std::abort();
  }
}

/// A private folder for this fuzzing process (readers take paths and name them in errors),
/// removed when the process exits normally.
inline const std::filesystem::path& scratch_dir() {
  struct Scratch {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("hetsim-fuzz-" + std::to_string(::getpid()));
    Scratch() { std::filesystem::create_directories(dir); }
    ~Scratch() {
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);
    }
  };
  static const Scratch scratch;
  return scratch.dir;
}

/// Writes the input bytes to `name` in the scratch folder and returns its path.
inline std::string write_scratch(std::string_view name, const std::uint8_t* data, std::size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path.string();
}

/// The repository (catalogs, shipped scenarios), for targets that need a base scenario.
inline std::filesystem::path source_dir() { return HETSIM_SOURCE_DIR; }

}  // namespace hetsim::fuzz
