#include "analysis/routing_order.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include "collector/errors.h"

namespace moeprof::analysis {
namespace {

using RecordKey = std::tuple<uint32_t, uint32_t, uint32_t>;  // (batch, step, MoE layer)

RecordKey keyOf(const collector::RoutingRecord& record) {
  return {record.batch, record.step, record.moeLayer};
}

// "the 6th record (batch 0, step 2, MoE layer 1)"
std::string describe(size_t index, const collector::RoutingRecord& record) {
  const size_t n = index + 1;
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th"
                       : n % 10 == 1                    ? "st"
                       : n % 10 == 2                    ? "nd"
                       : n % 10 == 3                    ? "rd"
                                                        : "th";
  return "the " + std::to_string(n) + suffix + " record (batch " + std::to_string(record.batch) +
         ", step " + std::to_string(record.step) + ", MoE layer " +
         std::to_string(record.moeLayer) + ")";
}

}  // namespace

void checkRoutingOrder(const collector::RoutingLog& log, const std::string& source) {
  const auto& records = log.records;
  for (size_t i = 1; i < records.size(); ++i) {
    if (keyOf(records[i - 1]) < keyOf(records[i])) continue;
    // records[0 .. i) are strictly increasing: a binary search finds a record this one repeats.
    auto before = records.begin() + static_cast<std::ptrdiff_t>(i);
    auto same =
        std::lower_bound(records.begin(), before, keyOf(records[i]),
                         [](const auto& r, const RecordKey& key) { return keyOf(r) < key; });
    const bool repeated = same != before && keyOf(*same) == keyOf(records[i]);
    std::string message =
        (source.empty() ? "" : "'" + source + "': ") + "routing log: " + describe(i, records[i]);
    if (repeated) {
      message += " repeats " + describe(static_cast<size_t>(same - records.begin()), *same) +
                 "; each (batch, step, MoE layer) is recorded once";
    } else {
      message += " comes after " + describe(i - 1, records[i - 1]) +
                 "; records must be in execution order, increasing in (batch, step, MoE layer)";
    }
    throw InputError(message + ", as moeprof run writes them");
  }
}

}  // namespace moeprof::analysis
