#include "collector/sources/nvtx_source.h"

#include <atomic>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/trace_events.h"
#include "collector/trace_sink.h"

#if MOEPROF_HAVE_NVTX
// This file defines the static-injection hook, so NVTX's weak default must not be defined here;
// NVTX's loader refers to the hook, so it is declared (with NVTX's type spelled out) first.
#define NVTX_STATIC_INJECTION_IMPL
extern "C" int (*InitializeInjectionNvtx2_fnptr)(const void* (*)(uint32_t));
#include <nvtx3/nvToolsExt.h>
#endif

#if MOEPROF_HAVE_NVTX

// NVTX leaves its handle types opaque for the tool to define: a domain is its name, a
// registered string its text. Both live until the process ends, as NVTX requires.
struct nvtxDomainRegistration_st {
  std::string name;
};
struct nvtxStringRegistration_st {
  std::string text;
};

namespace moeprof::collector {
namespace {

enum class Route : int { None = 0, InProcess = 1, Environment = 2 };

// Process-wide because NVTX calls plain C function pointers.
std::atomic<TraceSink*> activeSink{nullptr};
std::atomic<int> attachedRoute{static_cast<int>(Route::None)};
std::atomic<int64_t> eventCount{0};
std::atomic<int64_t> droppedCount{0};  // ends without a matching start
std::atomic<uint64_t> nextRangeId{1};

std::mutex registryMutex;
std::deque<nvtxDomainRegistration_st> domains;  // deque: handles stay valid as it grows
std::deque<nvtxStringRegistration_st> strings;

// A range pushed or started and not yet closed.
struct OpenRange {
  nvtxDomainHandle_t domain;
  int64_t startNs;
  uint64_t threadId;
  std::string text;
};
thread_local std::vector<OpenRange> pushedRanges;  // push/pop ranges nest per thread
std::mutex startedMutex;
std::unordered_map<nvtxRangeId_t, OpenRange> startedRanges;  // start/end may cross threads

std::string utf8(const wchar_t* text) {
  std::string out;
  for (; text != nullptr && *text != L'\0'; ++text) {
    auto c = static_cast<uint32_t>(*text);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (c < 0x800) {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      out += static_cast<char>(0xE0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (c >> 18));
      out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

std::string messageText(const nvtxEventAttributes_t* attributes) {
  if (attributes == nullptr) return "";
  switch (attributes->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII:
      return attributes->message.ascii != nullptr ? attributes->message.ascii : "";
    case NVTX_MESSAGE_TYPE_UNICODE:
      return utf8(attributes->message.unicode);
    case NVTX_MESSAGE_TYPE_REGISTERED:
      return attributes->message.registered != nullptr ? attributes->message.registered->text : "";
    default:
      return "";
  }
}

std::string domainName(nvtxDomainHandle_t domain) {
  return domain != nullptr ? domain->name : "";
}

void deliver(RangeEvent event) {
  TraceSink* sink = activeSink.load(std::memory_order_acquire);
  if (sink == nullptr) return;
  try {
    sink->append(std::move(event));
    eventCount.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::exception&) {
    // NVTX callers cannot take exceptions; the sink keeps the error for its owner.
  }
}

// ---- The handlers NVTX calls ------------------------------------------------------------------

void domainMarkEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t* attributes) {
  int64_t now = traceClockNs();
  deliver({now, now, traceThreadId(), domainName(domain), messageText(attributes), true});
}

int domainRangePushEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t* attributes) {
  pushedRanges.push_back({domain, traceClockNs(), traceThreadId(), messageText(attributes)});
  return static_cast<int>(pushedRanges.size()) - 1;
}

int domainRangePop(nvtxDomainHandle_t domain) {
  int64_t now = traceClockNs();
  // Each domain keeps its own stack: pop the innermost range of this domain.
  for (auto it = pushedRanges.rbegin(); it != pushedRanges.rend(); ++it) {
    if (it->domain != domain) continue;
    OpenRange range = std::move(*it);
    pushedRanges.erase(std::next(it).base());
    deliver({range.startNs, now, range.threadId, domainName(domain), std::move(range.text)});
    return static_cast<int>(pushedRanges.size());
  }
  droppedCount.fetch_add(1, std::memory_order_relaxed);
  return -1;  // NVTX's convention for a pop without a push
}

nvtxRangeId_t domainRangeStartEx(nvtxDomainHandle_t domain, const nvtxEventAttributes_t* attr) {
  nvtxRangeId_t id = nextRangeId.fetch_add(1, std::memory_order_relaxed);
  OpenRange range{domain, traceClockNs(), traceThreadId(), messageText(attr)};
  std::lock_guard lock(startedMutex);
  startedRanges.emplace(id, std::move(range));
  return id;
}

void domainRangeEnd(nvtxDomainHandle_t domain, nvtxRangeId_t id) {
  int64_t now = traceClockNs();
  OpenRange range;
  {
    std::lock_guard lock(startedMutex);
    auto it = startedRanges.find(id);
    if (it == startedRanges.end()) {
      droppedCount.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    range = std::move(it->second);
    startedRanges.erase(it);
  }
  // A start/end range belongs to the thread that started it.
  deliver({range.startNs, now, range.threadId, domainName(domain), std::move(range.text)});
}

nvtxDomainHandle_t domainCreateA(const char* name) {
  std::lock_guard lock(registryMutex);
  for (auto& domain : domains) {
    if (domain.name == name) return &domain;
  }
  return &domains.emplace_back(nvtxDomainRegistration_st{name != nullptr ? name : ""});
}

nvtxDomainHandle_t domainCreateW(const wchar_t* name) {
  return domainCreateA(utf8(name).c_str());
}

void domainDestroy(nvtxDomainHandle_t) {}  // handles stay valid: events may still name them

nvtxStringHandle_t domainRegisterStringA(nvtxDomainHandle_t, const char* text) {
  std::lock_guard lock(registryMutex);
  return &strings.emplace_back(nvtxStringRegistration_st{text != nullptr ? text : ""});
}

nvtxStringHandle_t domainRegisterStringW(nvtxDomainHandle_t domain, const wchar_t* text) {
  return domainRegisterStringA(domain, utf8(text).c_str());
}

void nameOsThreadA(uint32_t threadId, const char* name) {
  TraceSink* sink = activeSink.load(std::memory_order_acquire);
  if (sink == nullptr || name == nullptr) return;
  try {
    sink->setMeta("thread_name." + std::to_string(threadId), name);
  } catch (const std::exception&) {
  }
}

// The default-domain API is the domain API with a null domain.
nvtxEventAttributes_t asciiAttributes(const char* message) {
  nvtxEventAttributes_t attributes{};
  attributes.version = NVTX_VERSION;
  attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attributes.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attributes.message.ascii = message;
  return attributes;
}
void markEx(const nvtxEventAttributes_t* attributes) {
  domainMarkEx(nullptr, attributes);
}
void markA(const char* message) {
  auto attributes = asciiAttributes(message);
  domainMarkEx(nullptr, &attributes);
}
nvtxRangeId_t rangeStartEx(const nvtxEventAttributes_t* attributes) {
  return domainRangeStartEx(nullptr, attributes);
}
nvtxRangeId_t rangeStartA(const char* message) {
  auto attributes = asciiAttributes(message);
  return domainRangeStartEx(nullptr, &attributes);
}
void rangeEnd(nvtxRangeId_t id) {
  domainRangeEnd(nullptr, id);
}
int rangePushEx(const nvtxEventAttributes_t* attributes) {
  return domainRangePushEx(nullptr, attributes);
}
int rangePushA(const char* message) {
  auto attributes = asciiAttributes(message);
  return domainRangePushEx(nullptr, &attributes);
}
int rangePop() {
  return domainRangePop(nullptr);
}

// ---- Attaching to NVTX ------------------------------------------------------------------------

template <typename Function>
void install(NvtxFunctionTable table, unsigned int size, unsigned int id, Function function) {
  if (id < size && table[id] != nullptr) {
    *table[id] = reinterpret_cast<NvtxFunctionPointer>(function);
  }
}

bool installModule(const NvtxExportTableCallbacks* callbacks, NvtxCallbackModule module,
                   NvtxFunctionTable* table, unsigned int* size) {
  return callbacks->GetModuleFunctionTable(module, table, size) != 0 && *table != nullptr;
}

int attach(NvtxGetExportTableFunc_t getExportTable, Route route) {
  const auto* callbacks =
      static_cast<const NvtxExportTableCallbacks*>(getExportTable(NVTX_ETID_CALLBACKS));
  if (callbacks == nullptr) return 0;
  NvtxFunctionTable core = nullptr;
  NvtxFunctionTable core2 = nullptr;
  unsigned int coreSize = 0;
  unsigned int core2Size = 0;
  if (!installModule(callbacks, NVTX_CB_MODULE_CORE, &core, &coreSize) ||
      !installModule(callbacks, NVTX_CB_MODULE_CORE2, &core2, &core2Size)) {
    return 0;
  }
  install(core, coreSize, NVTX_CBID_CORE_MarkEx, &markEx);
  install(core, coreSize, NVTX_CBID_CORE_MarkA, &markA);
  install(core, coreSize, NVTX_CBID_CORE_RangeStartEx, &rangeStartEx);
  install(core, coreSize, NVTX_CBID_CORE_RangeStartA, &rangeStartA);
  install(core, coreSize, NVTX_CBID_CORE_RangeEnd, &rangeEnd);
  install(core, coreSize, NVTX_CBID_CORE_RangePushEx, &rangePushEx);
  install(core, coreSize, NVTX_CBID_CORE_RangePushA, &rangePushA);
  install(core, coreSize, NVTX_CBID_CORE_RangePop, &rangePop);
  install(core, coreSize, NVTX_CBID_CORE_NameOsThreadA, &nameOsThreadA);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainMarkEx, &domainMarkEx);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRangeStartEx, &domainRangeStartEx);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRangeEnd, &domainRangeEnd);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRangePushEx, &domainRangePushEx);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRangePop, &domainRangePop);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRegisterStringA, &domainRegisterStringA);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainRegisterStringW, &domainRegisterStringW);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainCreateA, &domainCreateA);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainCreateW, &domainCreateW);
  install(core2, core2Size, NVTX_CBID_CORE2_DomainDestroy, &domainDestroy);
  attachedRoute.store(static_cast<int>(route), std::memory_order_release);
  return 1;
}

}  // namespace
}  // namespace moeprof::collector

// The entry points NVTX finds: the static hook (in-process route) and, exported from the
// executable, the one libmoeprof_nvtx_injection.so calls (environment route).
extern "C" {
__attribute__((visibility("default"))) int moeprof_nvtx_attach_env(
    NvtxGetExportTableFunc_t getExportTable) {
  return moeprof::collector::attach(getExportTable, moeprof::collector::Route::Environment);
}
static int moeprofNvtxAttachInProcess(NvtxGetExportTableFunc_t getExportTable) {
  return moeprof::collector::attach(getExportTable, moeprof::collector::Route::InProcess);
}
__attribute__((visibility("default")))
NvtxInitializeInjectionNvtxFunc_t InitializeInjectionNvtx2_fnptr = &moeprofNvtxAttachInProcess;
}

namespace moeprof::collector {

NvtxSource::NvtxSource(TraceSink& sink) : sink_(sink) {
  TraceSink* expected = nullptr;
  if (!activeSink.compare_exchange_strong(expected, &sink)) {
    throw std::logic_error("an NvtxSource is already recording in this process");
  }
  eventCount.store(0);
  droppedCount.store(0);
  nvtxInitialize(nullptr);
  sink_.setMeta("nvtx", route());
}

NvtxSource::~NvtxSource() {
  activeSink.store(nullptr, std::memory_order_release);
  try {
    sink_.append(SourceStats{"nvtx", eventCount.load(), droppedCount.load(), 0});
  } catch (const std::exception&) {
  }
}

bool NvtxSource::attached() {
  return attachedRoute.load(std::memory_order_acquire) != static_cast<int>(Route::None);
}

std::string NvtxSource::route() {
  switch (static_cast<Route>(attachedRoute.load(std::memory_order_acquire))) {
    case Route::InProcess:
      return "moeprof (in-process injection)";
    case Route::Environment:
      return "moeprof (NVTX_INJECTION64_PATH)";
    case Route::None:
      break;
  }
  const char* path = std::getenv("NVTX_INJECTION64_PATH");
  if (path != nullptr && *path != '\0') {
    return std::string("another tool (NVTX_INJECTION64_PATH=") + path + ")";
  }
  return "none: NVTX did not attach";
}

}  // namespace moeprof::collector

#else  // !MOEPROF_HAVE_NVTX

namespace moeprof::collector {

NvtxSource::NvtxSource(TraceSink& sink) : sink_(sink) {
  sink_.setMeta("nvtx", route());
}
NvtxSource::~NvtxSource() = default;
bool NvtxSource::attached() {
  return false;
}
std::string NvtxSource::route() {
  return "none: built without NVTX3 headers";
}

}  // namespace moeprof::collector

#endif
