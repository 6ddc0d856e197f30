#pragma once
// Test support: run something that must reject its input, and get the InputError's message.
#include <gtest/gtest.h>

#include <exception>
#include <string>

#include "collector/errors.h"

namespace moeprof::testing {

// Returns the InputError's message; fails the test when something else or nothing is thrown.
template <typename Function>
std::string inputErrorMessage(Function&& function) {
  try {
    function();
  } catch (const InputError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected InputError, got: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

}  // namespace moeprof::testing
