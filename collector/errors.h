#pragma once
#include <stdexcept>
#include <string>

namespace moeprof {

// Bad usage or bad input (an unknown preset, a value out of range, a file in the wrong format).
// The message names the bad value and what is allowed; front ends exit with code 2 on it.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace moeprof
