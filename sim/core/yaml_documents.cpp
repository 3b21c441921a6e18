#include "sim/core/yaml_documents.hpp"

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <sstream>

#include "sim/core/error.hpp"

namespace hetsim::config {
namespace {

// Records where each document's first node is and whether it has any content.
class DocumentScan final : public YAML::EventHandler {
 public:
  YamlDocument doc;
  YAML::Mark first;
  int events = 0;

  void OnDocumentStart(const YAML::Mark&) override {
    doc = {};
    events = 0;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark, false); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark, true); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { note(mark, true); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark, true);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    note(mark, true);
  }
  void OnMapEnd() override {}

 private:
  void note(const YAML::Mark& mark, bool content) {
    if (events++ == 0) {
      first = mark;
      doc.line = mark.line + 1;
      doc.column = mark.column + 1;
    }
    doc.has_content = doc.has_content || content;
  }
};

}  // namespace

std::vector<YamlDocument> scan_yaml_documents(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::vector<YamlDocument> docs;
  try {
    YAML::Parser parser(in);
    DocumentScan scan;
    int previous_pos = -1;
    while (parser.HandleNextDocument(scan)) {
      // A document that is one null at the position where the previous one started did not
      // consume anything: yaml-cpp would hand out the same document forever.
      const bool stuck = !scan.doc.has_content && scan.events == 1 && scan.first.pos == previous_pos;
      if (stuck)
        throw InputError(fmt::format("{}:{}:{}: YAML syntax error: unexpected '{}' (expected a key, a value or a list item)",
                                     name, scan.doc.line, scan.doc.column,
                                     scan.first.pos >= 0 && static_cast<std::size_t>(scan.first.pos) < text.size()
                                         ? text[static_cast<std::size_t>(scan.first.pos)] : '?'));
      previous_pos = scan.events > 0 ? scan.first.pos : previous_pos;
      docs.push_back(scan.doc);
    }
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}:{}: YAML syntax error: {}", name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  return docs;
}

}  // namespace hetsim::config
