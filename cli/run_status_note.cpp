#include "cli/run_status_note.h"

#include <system_error>

#include "collector/run_manifest.h"

namespace moeprof::cli {

std::string runStatusNote(const std::filesystem::path& runOrFile) {
  std::error_code ignored;
  std::filesystem::path dir =
      std::filesystem::is_directory(runOrFile, ignored) ? runOrFile : runOrFile.parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_regular_file(dir / collector::kManifestFileName, ignored)) return "";
  const collector::RunManifest manifest = collector::readManifest(dir);
  switch (manifest.status) {
    case collector::RunStatus::Complete:
      return "";
    case collector::RunStatus::Interrupted:
      return "note: run " + dir.string() + " was interrupted (" + manifest.statusReason +
             "): what follows covers only what it recorded before it stopped\n";
    case collector::RunStatus::Incomplete:
      break;
  }
  return "note: run " + dir.string() +
         " is incomplete: it never finished (it is still running, failed, or was killed), so "
         "its metrics are partial or missing\n";
}

}  // namespace moeprof::cli
