#pragma once
// The comma lists and ranges that the replay commands (simulate, characterize) take: policy and
// placement names, slot counts, device counts. One parser each, so both commands accept and
// reject the same text with the same message.
#include <cstdint>
#include <string>
#include <vector>

namespace moeprof::cli {

// "a,b,c" -> {"a", "b", "c"}; empty items are kept (the caller's parser rejects them).
std::vector<std::string> splitList(const std::string& text);

// --slots: a range "A..B" (every count from A to B) or a list "N,M,...", counts 1 to
// collector::kMaxExperts. Throws InputError naming the bad item otherwise.
struct SlotCounts {
  std::vector<uint32_t> counts;
  bool range = false;  // given as A..B: callers may skip the counts a model cannot use
};
SlotCounts parseSlotCounts(const std::string& text);

// --devices: a list of counts >= 1. Throws InputError naming the bad item otherwise.
std::vector<int> parseDeviceCounts(const std::string& text);

}  // namespace moeprof::cli
