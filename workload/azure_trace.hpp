#pragma once
// Azure LLM inference traces (Azure/AzurePublicDataset, CC-BY-4.0), both releases:
//   2023 (Patel et al., "Splitwise", ISCA'24), one hour: TIMESTAMP "2023-11-16 18:15:46.6805900"
//     (wall clock, 100 ns resolution, no zone);
//   2024 (Stojkovic et al., "DynamoLLM", HPCA'25), one week: TIMESTAMP "2024-05-10 00:00:00.009930+00:00"
//     (microseconds, with a UTC offset).
// Both are CSVs with the header TIMESTAMP,ContextTokens,GeneratedTokens.
#include <cstdint>
#include <memory>
#include <string>

#include "workload/request_stream.hpp"

namespace hetsim::workload {

/// The trace's requests, read row by row; arrivals are seconds since the first row. Malformed
/// lines are InputErrors naming "file:line" (an unreadable file or header, at once).
std::unique_ptr<RequestStream> open_azure_trace(const std::string& path);

/// Time since 1970-01-01 UTC of "YYYY-MM-DD HH:MM:SS[.fraction][Z|+HH:MM|-HH:MM]" (no offset: UTC;
/// proleptic Gregorian) in integer ticks of 100 ns, the traces' finest resolution (a double of epoch
/// seconds would lose it); false if malformed.
bool parse_timestamp(const std::string& text, std::int64_t& ticks);

}  // namespace hetsim::workload
