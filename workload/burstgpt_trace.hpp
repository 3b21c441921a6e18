#pragma once
// BurstGPT trace (HPMLL/BurstGPT; Wang et al., "BurstGPT", KDD'25; CC-BY-4.0): ChatGPT and GPT-4
// requests to Azure OpenAI, a CSV with header
//   Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
// Timestamp: seconds from the start of the trace; Model: ChatGPT or GPT-4; Log Type:
// "Conversation log" or "API log"; a row with Response tokens 0 is a failed request. Releases that
// add columns (Session ID, Elapsed time) read the same: columns are found by name.
#include <memory>
#include <string>

#include "workload/request_stream.hpp"

namespace hetsim::workload {

/// Which rows to keep; an empty field keeps every value.
struct BurstGptFilter {
  std::string model;     ///< "ChatGPT" or "GPT-4"
  std::string log_type;  ///< "Conversation log" or "API log"
};

/// The trace's successful requests that pass `filter`, read row by row; failed rows (Response
/// tokens 0) are skipped, since they did no serving work. Arrivals are the Timestamp values.
/// Malformed lines are InputErrors naming "file:line", the column, the bad value and the expectation.
std::unique_ptr<RequestStream> open_burstgpt_trace(const std::string& path, const BurstGptFilter& filter = {});

}  // namespace hetsim::workload
