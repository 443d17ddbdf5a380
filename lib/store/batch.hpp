// One group-commit transaction per batch: one statement for all claims, one for all records.
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
  const std::string* op_id; // uuid, the idempotency key of the message_events row
};

struct batch_params {
  std::string owner;
  std::chrono::seconds lease;
};

// Declares the batch statements on a new connection.
void prepare_statements(pqxx::connection& conn);

// Runs claims (first, deduplicated: a request claimed twice in one batch answers as if
// the claims ran one after the other) then records (in the given order) in one
// transaction. Throws what libpqxx throws; on return the transaction has committed.
void run_batch(pqxx::connection& conn, const batch_params& params, std::vector<claim_item>& claims,
               const std::vector<record_item>& records);

} // namespace iaposte::store::detail
