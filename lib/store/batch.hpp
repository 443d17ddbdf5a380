// One group-commit transaction per batch: one statement per kind of operation.
#pragma once

#include <chrono>
#include <string>

#include <pqxx/connection>
#include <vector>

#include "store/store.hpp"

namespace iaposte::store::detail {

struct claim_item {
  const claim_request* req;
  claim_result result; // filled by run_batch
};

struct record_item {
  const event_record* ev;
};

// release(): the request's key only.
struct key_item {
  const std::string* tenant;
  const std::string* request_id;
};

struct batch_params {
  std::string owner;
  std::chrono::seconds lease;
  std::string dead_owners = "[]"; // JSON array: owners whose live leases are taken over
};

// A batch's operations by kind, each in queue order.
struct batch_ops {
  std::vector<claim_item> claims;
  std::vector<record_item> records;
  std::vector<key_item> releases;
};

// The order in which run_batch applies the kinds in its transaction. A batch must not
// hold an operation queued after one of a later phase for the same request (the caller
// cuts the batch there), so that each request sees its operations in queue order.
enum class phase { claim = 0, record = 1, release = 2 };

// Declares the batch statements on a new connection.
void prepare_statements(pqxx::connection& conn);

// Runs claims (deduplicated: a request claimed twice in one batch answers as if the
// claims ran one after the other), then records (in the given order), then releases, in
// one transaction. Throws what libpqxx throws; on return the
// transaction has committed.
void run_batch(pqxx::connection& conn, const batch_params& params, batch_ops& ops);

} // namespace iaposte::store::detail
