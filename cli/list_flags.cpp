#include "cli/list_flags.h"

#include <charconv>

#include "collector/errors.h"
#include "collector/routing_log.h"

namespace moeprof::cli {

namespace {

template <typename Integer>
bool parseWhole(const std::string& text, Integer& value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

uint32_t parseSlotCount(const std::string& item, const std::string& whole) {
  uint32_t value = 0;
  if (!parseWhole(item, value) || value == 0 || value > collector::kMaxExperts) {
    throw InputError("--slots '" + whole + "': '" + item +
                     "' is not a slot count (allowed: N, a comma list, or a range A..B of "
                     "counts >= 1, e.g. 1..16 or 2,4,8)");
  }
  return value;
}

}  // namespace

std::vector<std::string> splitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

SlotCounts parseSlotCounts(const std::string& text) {
  SlotCounts slots;
  size_t dots = text.find("..");
  if (dots == std::string::npos) {
    for (const std::string& item : splitList(text)) {
      slots.counts.push_back(parseSlotCount(item, text));
    }
    return slots;
  }
  slots.range = true;
  uint32_t low = parseSlotCount(text.substr(0, dots), text);
  uint32_t high = parseSlotCount(text.substr(dots + 2), text);
  if (low > high) {
    throw InputError("--slots '" + text + "': the range is empty (A..B needs A <= B)");
  }
  for (uint32_t count = low; count <= high; ++count) slots.counts.push_back(count);
  return slots;
}

std::vector<int> parseDeviceCounts(const std::string& text) {
  std::vector<int> counts;
  for (const std::string& item : splitList(text)) {
    int value = 0;
    if (!parseWhole(item, value) || value < 1) {
      throw InputError("--devices '" + text + "': '" + item +
                       "' is not a device count (allowed: a comma list of counts >= 1)");
    }
    counts.push_back(value);
  }
  return counts;
}

}  // namespace moeprof::cli
