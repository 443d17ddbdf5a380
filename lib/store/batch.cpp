// One group-commit transaction per batch: one statement per kind of operation.
#include "store/batch.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "store/codec.hpp"
#include "store/log_event.hpp"

namespace iaposte::store::detail {
namespace {

#define IAPOSTE_TERMINAL_STATES                                                                    \
  "('sent', 'bounced', 'failed', 'rejected', 'suppressed', 'duplicate')"

// A row the claim leaves alone (lease, owner, content): ended, or leased by another
// instance until later than now, unless that instance stopped beating ($4, liveness.hpp).
// Evaluated on the row version the UPDATE writes over, so
// that two instances racing for an expired lease serialise on the row lock and the second
// one sees the first one's lease.
#define IAPOSTE_KEEP_LEASE                                                                         \
  "(m.state IN " IAPOSTE_TERMINAL_STATES                                                           \
  " OR coalesce(m.owner <> $2 AND m.lease_until > now() AND NOT ($4::jsonb ? m.owner), false))"

// $1: [{tenant, request_id, message_id, sender, subject, recipients, source, content, meta,
// accepted, n}], one per request (deduplicated by the caller; n: how many claims of it the
// batch holds; content, meta: null when the claim passed none; accepted: a row inserted
// gets its `accepted` history event); $2: owner; $3: lease in seconds; $4: dead owners
// (a JSON array of instance ids).
// Existing rows are updated first (the lease and the content are taken only when the row
// is neither terminal nor leased by another instance; the state and attempts are left
// alone, so RETURNING gives the state before the claim); the missing ones are inserted.
// Both parts read the same snapshot, so a row that another instance inserted meanwhile
// is in neither answer (the INSERT waits for it, then skips it): the caller claims such
// requests again in a new statement, which sees it.
// `content` comes back only when the caller must not use what it sent: a taken row whose
// stored content (the first claim's) differs from it. Terminal and busy rows never send,
// so their content is not shipped back.
constexpr const char* claim_sql = R"sql(
WITH input AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    tenant text, request_id text, message_id text, sender text, subject text,
    recipients integer, source text, content text, meta jsonb, accepted boolean, n integer)
),
existing AS (
  UPDATE messages m
     SET claims      = m.claims + i.n,
         owner       = CASE WHEN )sql" IAPOSTE_KEEP_LEASE R"sql( THEN m.owner ELSE $2 END,
         lease_until = CASE WHEN )sql" IAPOSTE_KEEP_LEASE R"sql( THEN m.lease_until
                            ELSE now() + make_interval(secs => $3) END,
         updated_at  = CASE WHEN )sql" IAPOSTE_KEEP_LEASE R"sql( THEN m.updated_at ELSE now() END,
         content     = CASE WHEN )sql" IAPOSTE_KEEP_LEASE R"sql( THEN m.content
                            ELSE coalesce(m.content, i.content) END,
         content_meta = CASE WHEN )sql" IAPOSTE_KEEP_LEASE R"sql( OR m.content IS NOT NULL
                             THEN m.content_meta ELSE i.meta END,
         message_id  = coalesce(m.message_id, nullif(i.message_id, '')),
         sender      = coalesce(m.sender, i.sender),
         subject     = coalesce(m.subject, i.subject),
         recipients  = coalesce(m.recipients, i.recipients),
         source      = coalesce(m.source, i.source)
    FROM input i
   WHERE m.tenant = i.tenant AND m.request_id = i.request_id
  RETURNING m.tenant, m.request_id, m.state, m.attempts, m.message_id, m.owner,
            (extract(epoch FROM m.lease_until) * 1000000)::bigint AS lease_us,
            (extract(epoch FROM m.updated_at) * 1000000)::bigint AS updated_us,
            m.published_at IS NOT NULL AS published,
            CASE WHEN m.state = 'sending' OR (m.state IN )sql" IAPOSTE_TERMINAL_STATES R"sql(
                      AND m.published_at IS NULL)
                 THEN (SELECT (extract(epoch FROM max((e ->> 'at')::timestamptz)) * 1000000)::bigint
                         FROM jsonb_array_elements(m.history) e) END
              AS last_event_us,
            m.last_code, m.last_enhanced,
            m.last_reply, m.reason,
            CASE WHEN m.state NOT IN )sql" IAPOSTE_TERMINAL_STATES R"sql( AND m.owner = $2
                      AND m.content IS DISTINCT FROM i.content
                 THEN m.content END AS content,
            CASE WHEN m.state NOT IN )sql" IAPOSTE_TERMINAL_STATES R"sql( AND m.owner = $2
                      AND m.content IS DISTINCT FROM i.content
                 THEN m.content_meta::text END AS content_meta
),
inserted AS (
  INSERT INTO messages (tenant, request_id, state, message_id, sender, subject, recipients,
                        source, claims, owner, lease_until, content, content_meta, history)
  SELECT i.tenant, i.request_id, 'accepted', nullif(i.message_id, ''), i.sender, i.subject,
         i.recipients, i.source, i.n, $2, now() + make_interval(secs => $3), i.content,
         CASE WHEN i.content IS NOT NULL THEN i.meta END,
         CASE WHEN i.accepted
              THEN jsonb_build_array(jsonb_build_object('status', 'accepted', 'attempt', 0,
                                                        'at', now()))
              ELSE '[]' END
    FROM input i
   WHERE NOT EXISTS (SELECT 1 FROM messages m
                      WHERE m.tenant = i.tenant AND m.request_id = i.request_id)
  ON CONFLICT (tenant, request_id) DO NOTHING
  RETURNING tenant, request_id, state, attempts, message_id, owner,
            (extract(epoch FROM lease_until) * 1000000)::bigint AS lease_us,
            (extract(epoch FROM updated_at) * 1000000)::bigint AS updated_us,
            false AS published, NULL::bigint AS last_event_us, last_code, last_enhanced, last_reply, reason,
            NULL::text AS content, NULL::text AS content_meta
)
SELECT false AS fresh, * FROM existing
UNION ALL
SELECT true AS fresh, * FROM inserted
)sql";

#undef IAPOSTE_KEEP_LEASE

// $1: the records' net effect per request (folded by the caller, in queue order), each
// with its history events in queue order (`events`, appended by history_append, migration
// 0008: events already in the row are not appended again).
// A `duplicate` does not overwrite a terminal row: only its event is appended
// (IAPOSTE_KEEP_ROW). `published`: the last record's flag (event_record::published), which
// sets published_at on a terminal row (the first acknowledgement's time is kept); a state
// change clears it (the event published was another one's). `content`: stored when the
// row has none (the first content wins, as with claims). The row's message_id is set
// once, by the first claim or record that has one: the worker derives it from the request,
// so every record of a request carries the same, and an event leaves it out where it is the
// fold's (fold::to_json).
#define IAPOSTE_KEEP_ROW "(excluded.state = 'duplicate' AND m.state IN " IAPOSTE_TERMINAL_STATES ")"
#define IAPOSTE_UNLESS_KEPT(column, value)                                                         \
  column " = CASE WHEN " IAPOSTE_KEEP_ROW " THEN m." column " ELSE " value " END"
constexpr const char* record_sql = R"sql(
WITH folded AS (
  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
    tenant text, request_id text, state text, attempts integer, message_id text,
    last_code integer, last_enhanced text, last_reply text, reason text,
    next_attempt_at timestamptz, events jsonb, published boolean, content text)
)
INSERT INTO messages AS m (tenant, request_id, state, message_id, attempts, last_code,
                           last_enhanced, last_reply, reason, next_attempt_at, history,
                           content, published_at)
SELECT tenant, request_id, state, message_id, attempts, last_code, last_enhanced,
       last_reply, reason, next_attempt_at, events, content,
       CASE WHEN published AND state IN )sql" IAPOSTE_TERMINAL_STATES R"sql( THEN now() END
  FROM folded
ON CONFLICT (tenant, request_id) DO UPDATE
   SET )sql" IAPOSTE_UNLESS_KEPT("state", "excluded.state") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("attempts", "greatest(m.attempts, excluded.attempts)") R"sql(,
       message_id      = coalesce(m.message_id, excluded.message_id),
       content         = coalesce(m.content, excluded.content),
       )sql" IAPOSTE_UNLESS_KEPT("last_code", "coalesce(excluded.last_code, m.last_code)") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("last_enhanced",
                                 "CASE WHEN excluded.last_code IS NULL THEN m.last_enhanced ELSE "
                                 "excluded.last_enhanced END") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("last_reply", "CASE WHEN excluded.last_code IS NULL THEN "
                                               "m.last_reply ELSE excluded.last_reply END") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("reason", "excluded.reason") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("next_attempt_at", "excluded.next_attempt_at") R"sql(,
       )sql" IAPOSTE_UNLESS_KEPT("lease_until",
                                 "CASE WHEN excluded.state IN " IAPOSTE_TERMINAL_STATES
                                 " THEN NULL ELSE m.lease_until END") R"sql(,
       published_at    = CASE WHEN )sql" IAPOSTE_KEEP_ROW R"sql( OR excluded.state = m.state
                              THEN coalesce(m.published_at, excluded.published_at)
                              ELSE excluded.published_at END,
       )sql" IAPOSTE_UNLESS_KEPT("updated_at", "now()") R"sql(,
       history         = history_append(m.history, excluded.history)
)sql";

#undef IAPOSTE_UNLESS_KEPT
#undef IAPOSTE_KEEP_ROW

// $1: [{tenant, request_id}]; $2: owner. Only our own lease on a live request.
constexpr const char* release_sql = R"sql(
UPDATE messages m
   SET owner = NULL, lease_until = NULL
  FROM jsonb_to_recordset($1::jsonb) AS i(tenant text, request_id text)
 WHERE m.tenant = i.tenant AND m.request_id = i.request_id
   AND m.owner = $2 AND m.state NOT IN )sql" IAPOSTE_TERMINAL_STATES R"sql(
)sql";

#undef IAPOSTE_TERMINAL_STATES

using key_t = std::pair<std::string, std::string>; // (tenant, request_id)

nlohmann::json text_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return clean_text(s);
}

// One history element (migration 0008), null fields left out, message_id too where it is
// `row_message_id`. The same record gives the same element, which is how a retried batch
// finds it already appended.
nlohmann::json event_json(const event_record& ev, const std::string& row_message_id) {
  nlohmann::json j{
      {"status", status_name(ev.status)}, {"attempt", ev.attempt}, {"at", pg_time(ev.at)}};
  if (!ev.message_id.empty() && ev.message_id != row_message_id)
    j["message_id"] = clean_text(ev.message_id);
  if (ev.smtp) {
    nlohmann::json smtp{{"code", ev.smtp->code}};
    if (!ev.smtp->enhanced.empty()) smtp["enhanced"] = clean_text(ev.smtp->enhanced);
    if (!ev.smtp->text.empty()) smtp["text"] = clean_text(ev.smtp->text);
    j["smtp"] = std::move(smtp);
  }
  if (!ev.reason.empty()) j["reason"] = clean_text(ev.reason);
  if (ev.next_attempt_at) j["next_attempt_at"] = pg_time(*ev.next_attempt_at);
  return j;
}

// How one request's row ends up after this batch's records, applied in order with the
// rule that a duplicate does not overwrite a terminal state.
struct fold {
  std::string tenant, request_id, state, message_id, reason;
  int attempts = 0;
  std::optional<core::smtp_reply_info> smtp;
  std::optional<core::clock::time_point> next_attempt_at;
  std::vector<const event_record*> events; // every record, in queue order
  bool published = false;
  const std::string* content = nullptr; // the first record's with one

  void apply(const event_record& ev) {
    events.push_back(&ev);
    if (!content && !ev.content.empty()) content = &ev.content;
    attempts = std::max(attempts, ev.attempt);
    const std::string_view status = status_name(ev.status);
    if (status == "duplicate" && !state.empty() && is_terminal_state(state)) {
      published = published || ev.published; // the kept terminal state's mark
      return;
    }
    if (status != state) published = false;
    published = published || ev.published;
    state = status;
    if (message_id.empty()) message_id = ev.message_id; // set once, as in the row
    if (ev.smtp) smtp = ev.smtp;
    reason = ev.reason;
    next_attempt_at = ev.next_attempt_at;
  }

  nlohmann::json to_json() const {
    nlohmann::json j{
        {"tenant", clean_text(tenant)},
        {"request_id", clean_text(request_id)},
        {"state", state},
        {"attempts", attempts},
        {"message_id", text_or_null(message_id)},
        {"reason", text_or_null(reason)},
        {"last_code", nullptr},
        {"last_enhanced", nullptr},
        {"last_reply", nullptr},
        {"next_attempt_at", nullptr},
        {"events", nlohmann::json::array()},
        {"published", published},
        {"content", content ? nlohmann::json(clean_text(*content)) : nlohmann::json()}};
    for (const event_record* ev : events)
      j["events"].push_back(event_json(*ev, message_id));
    if (smtp) {
      j["last_code"] = smtp->code;
      j["last_enhanced"] = clean_text(smtp->enhanced);
      j["last_reply"] = clean_text(smtp->text);
    }
    if (next_attempt_at) j["next_attempt_at"] = pg_time(*next_attempt_at);
    return j;
  }
};

struct claim_answer {
  bool fresh = false, published = false;
  std::string state, message_id, owner, reason;
  int attempts = 0;
  std::optional<std::string> content; // none: the stored content is what was sent
  std::string content_meta;           // with `content`: what produced it (JSON), if recorded
  std::optional<core::clock::time_point> lease_until, updated_at, last_event_at;
  std::optional<core::smtp_reply_info> last_smtp;
};

// A JSON text as a value; null when empty or not JSON (it is metadata: never worth failing
// the claim for).
nlohmann::json json_or_null(const std::string& text) {
  if (text.empty()) return nullptr;
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::string text_of(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.c_str();
}

claim_answer read_answer(const pqxx::row& row) {
  claim_answer a;
  a.fresh = row["fresh"].as<bool>();
  a.published = row["published"].as<bool>();
  a.state = row["state"].c_str();
  a.attempts = row["attempts"].as<int>();
  a.message_id = text_of(row["message_id"]);
  a.owner = text_of(row["owner"]);
  a.reason = text_of(row["reason"]);
  if (!row["content"].is_null()) a.content = row["content"].c_str();
  a.content_meta = text_of(row["content_meta"]);
  if (!row["lease_us"].is_null()) a.lease_until = from_epoch_us(row["lease_us"].as<std::int64_t>());
  if (!row["updated_us"].is_null())
    a.updated_at = from_epoch_us(row["updated_us"].as<std::int64_t>());
  if (!row["last_event_us"].is_null())
    a.last_event_at = from_epoch_us(row["last_event_us"].as<std::int64_t>());
  if (!row["last_code"].is_null())
    a.last_smtp = core::smtp_reply_info{row["last_code"].as<int>(), text_of(row["last_enhanced"]),
                                        text_of(row["last_reply"])};
  return a;
}

void run_claims(pqxx::work& w, const batch_params& params, std::vector<claim_item>& claims) {
  // Keys are cleaned exactly as they are sent, so that answers match them.
  std::map<key_t, std::size_t> first; // key -> index in `unique`
  std::vector<const claim_request*> unique;
  std::vector<key_t> keys;           // aligned with `unique`
  std::vector<int> counts;           // aligned with `unique`
  std::vector<std::string> contents; // aligned with `unique`: the content as sent (cleaned)
  for (auto& c : claims) {
    key_t k{clean_text(c.req->tenant), clean_text(c.req->request_id)};
    auto [it, added] = first.emplace(k, unique.size());
    if (added) {
      unique.push_back(c.req);
      keys.push_back(std::move(k));
      counts.push_back(0);
      contents.push_back(clean_text(c.req->content));
    }
    ++counts[it->second];
  }

  std::map<key_t, claim_answer> answers;
  // Usually one round: a second one only when another instance inserted one of these
  // requests between our snapshot and our insert.
  for (int round = 0; answers.size() < unique.size(); ++round) {
    // A real race settles in the second round; more means a key that never matches (a
    // bug): fail as poison (not a pqxx error) so that the operation is isolated.
    if (round == 5) throw std::logic_error("claim answers do not match the requests sent");
    if (round > 0) // normal during a rebalance: another instance claimed them meanwhile
      log_event(spdlog::level::debug, "store.claim_race",
                {{"requests", unique.size() - answers.size()}, {"round", round}});
    nlohmann::json input = nlohmann::json::array();
    for (std::size_t i = 0; i < unique.size(); ++i) {
      if (answers.count(keys[i])) continue;
      const claim_request& r = *unique[i];
      input.push_back(
          {{"tenant", keys[i].first},
           {"request_id", keys[i].second},
           {"message_id", clean_text(r.message_id)},
           {"sender", text_or_null(r.sender)},
           {"subject", text_or_null(r.subject)},
           {"recipients", r.recipients},
           {"source", text_or_null(r.source)},
           {"content", contents[i].empty() ? nlohmann::json(nullptr) : nlohmann::json(contents[i])},
           {"meta", contents[i].empty() ? nlohmann::json(nullptr) : json_or_null(r.content_meta)},
           {"accepted", r.record_accepted},
           {"n", counts[i]}});
    }
    const pqxx::result res =
        w.exec_prepared("iaposte_claim_batch", to_param(input), params.owner,
                        static_cast<double>(params.lease.count()), params.dead_owners);
    for (const auto& row : res)
      answers[{row["tenant"].c_str(), row["request_id"].c_str()}] = read_answer(row);
  }

  std::map<key_t, bool> answered_once;
  for (auto& c : claims) {
    const key_t k{clean_text(c.req->tenant), clean_text(c.req->request_id)};
    const claim_answer& a = answers.at(k);
    const bool again = !answered_once.emplace(k, true).second;
    claim_result r;
    r.state = a.state;
    r.attempts = a.attempts;
    r.message_id = a.message_id;
    r.lease_until = a.lease_until;
    r.updated_at = a.updated_at;
    r.last_event_at = a.last_event_at;
    r.last_smtp = a.last_smtp;
    r.reason = a.reason;
    if (is_terminal_state(a.state)) {
      r.kind = claim_result::kind::terminal;
      r.published = a.published;
    } else if (a.owner != params.owner) {
      r.kind = claim_result::kind::busy; // the claim left another instance's live lease
    } else {
      // a second claim in the batch sees the first one's row
      r.kind = a.fresh && !again ? claim_result::kind::fresh : claim_result::kind::resumed;
      r.content = a.content ? *a.content : contents[first.at(k)];
      r.content_meta = a.content ? a.content_meta : unique[first.at(k)]->content_meta;
    }
    c.result = std::move(r);
  }
}

void run_records(pqxx::work& w, const std::vector<record_item>& records) {
  std::map<key_t, std::size_t> index;
  std::vector<fold> folds;
  for (const auto& r : records) {
    key_t k{clean_text(r.ev->tenant), clean_text(r.ev->request_id)};
    auto [it, added] = index.emplace(std::move(k), folds.size());
    if (added) {
      folds.emplace_back();
      folds.back().tenant = r.ev->tenant;
      folds.back().request_id = r.ev->request_id;
    }
    folds[it->second].apply(*r.ev);
  }
  nlohmann::json folded = nlohmann::json::array();
  for (const auto& f : folds)
    folded.push_back(f.to_json());
  w.exec_prepared("iaposte_record_batch", to_param(folded));
}

// release(): one statement for all, each request once.
void run_releases(pqxx::work& w, const std::vector<key_item>& items, const std::string& owner) {
  std::set<key_t> seen;
  nlohmann::json input = nlohmann::json::array();
  for (const auto& it : items) {
    key_t k{clean_text(*it.tenant), clean_text(*it.request_id)};
    if (!seen.insert(k).second) continue;
    input.push_back({{"tenant", k.first}, {"request_id", k.second}});
  }
  w.exec_prepared("iaposte_release_batch", to_param(input), owner);
}

} // namespace

void prepare_statements(pqxx::connection& conn) {
  // Every statement below looks requests up by their unique key, a batch (at most
  // batch_max rows) at a time: nested loops over the unique indexes are always the right
  // plan. The planner thinks otherwise while `messages` is new or small (no statistics yet:
  // seq scans and hash joins, which get slower as the table grows until autoanalyze runs).
  // Measured on a fresh database, 10,000 requests: 3.6 million tuples read by seq scans, PG
  // CPU 473 us per message; with these settings, 216 us and no seq scan. This connection
  // runs only these statements.
  pqxx::nontransaction n(conn);
  n.exec("SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off");
  n.commit();
  conn.prepare("iaposte_claim_batch", claim_sql);
  conn.prepare("iaposte_record_batch", record_sql);
  conn.prepare("iaposte_release_batch", release_sql);
}

void run_batch(pqxx::connection& conn, const batch_params& params, batch_ops& ops) {
  pqxx::work w(conn);
  if (!ops.claims.empty()) run_claims(w, params, ops.claims);
  if (!ops.records.empty()) run_records(w, ops.records);
  if (!ops.releases.empty()) run_releases(w, ops.releases, params.owner);
  w.commit();
}

} // namespace iaposte::store::detail
