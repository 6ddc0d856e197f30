#include "reports/paper_figures.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

namespace moeprof::reports {

// The contents of reports/paper_figures.json (generated at build time, paper_figures_data.cpp).
extern const char* const kPaperFiguresJson;

namespace {

constexpr int kSchemaVersion = 1;

using nlohmann::json;

std::string stringOr(const json& object, const char* key) {
  return object.contains(key) ? object.at(key).get<std::string>() : std::string();
}

// The embedded file is part of the build: a malformed one is a build defect, so reading it
// throws std::logic_error naming the problem (a test reads it on every CI run).
json embeddedFile() {
  json file = json::parse(kPaperFiguresJson);
  if (file.value("format", "") != "moeprof-paper-figures" ||
      file.value("schema_version", 0) != kSchemaVersion) {
    throw std::logic_error(std::string(kPaperFiguresFile) +
                           ": not a moeprof-paper-figures file of schema_version " +
                           std::to_string(kSchemaVersion));
  }
  return file;
}

struct Figures {
  std::vector<PaperFigure> figures;
  std::vector<PaperSource> sources;
};

const Figures& figures() {
  static const Figures parsed = [] {
    const json file = embeddedFile();
    Figures out;
    for (const auto& [key, source] : file.at("sources").items()) {
      out.sources.push_back(
          {key, source.at("citation"), source.at("short"), stringOr(source, "setting")});
    }
    for (const json& f : file.at("figures")) {
      PaperFigure figure{f.at("finding"),  f.at("workload"),    f.at("scope"),
                         std::nullopt,     stringOr(f, "unit"), stringOr(f, "text"),
                         f.at("measured"), f.at("source"),      f.at("where")};
      if (f.contains("value")) figure.value = f.at("value").get<double>();
      out.figures.push_back(std::move(figure));
    }
    return out;
  }();
  return parsed;
}

}  // namespace

const std::vector<PaperFigure>& paperFigures() {
  return figures().figures;
}

const std::vector<PaperSource>& paperSources() {
  return figures().sources;
}

const PaperFigure* findPaperFigure(const std::string& finding, const std::string& workload,
                                   const std::string& scope) {
  for (const auto& f : paperFigures()) {
    if (f.finding == finding && f.workload == workload && f.scope == scope) return &f;
  }
  return nullptr;
}

std::optional<double> paperValue(const std::string& finding, const std::string& workload,
                                 const std::string& scope) {
  const PaperFigure* figure = findPaperFigure(finding, workload, scope);
  return figure ? figure->value : std::nullopt;
}

std::string paperText(const std::string& finding, const std::string& workload,
                      const std::string& scope) {
  const PaperFigure* figure = findPaperFigure(finding, workload, scope);
  return figure && !figure->text.empty() ? figure->text : "-";
}

const std::string& paperShortName(const std::string& sourceKey) {
  for (const auto& s : paperSources()) {
    if (s.key == sourceKey) return s.shortName;
  }
  throw std::out_of_range("no paper source '" + sourceKey + "' in " + kPaperFiguresFile);
}

}  // namespace moeprof::reports
