// Synchronous reads of one request's row and history, on a connection of their own.
#include "store/lookup.hpp"

#include <stdexcept>

#include <pqxx/pqxx>

#include "store/codec.hpp"
#include "store/conninfo.hpp"

namespace iaposte::store::detail {
namespace {

std::string text(const pqxx::field& f) {
  return f.is_null() ? std::string{} : f.c_str();
}

// Runs `fn` on a fresh read-only transaction; errors come back password-free.
template <typename Fn> auto with_read(const std::string& url, Fn&& fn) {
  auto conn = open_connection(url);
  try {
    pqxx::read_transaction r(*conn);
    return fn(r);
  } catch (const std::exception& e) {
    throw std::runtime_error("PostgreSQL query failed at " + describe_server(url) + ": " +
                             describe_error(e, url));
  }
}

} // namespace

std::optional<message_row> find_message(const std::string& url, const std::string& tenant,
                                        const std::string& request_id) {
  return with_read(url, [&](pqxx::read_transaction& r) -> std::optional<message_row> {
    const pqxx::result res = r.exec_params(
        "SELECT tenant, request_id, state, message_id, attempts, last_code, last_reply, "
        "       published_at IS NOT NULL AS published "
        "FROM messages WHERE tenant = $1 AND request_id = $2",
        clean_text(tenant), clean_text(request_id));
    if (res.empty()) return std::nullopt;
    const auto row = res[0];
    message_row m;
    m.tenant = text(row["tenant"]);
    m.request_id = text(row["request_id"]);
    m.state = text(row["state"]);
    m.message_id = text(row["message_id"]);
    m.attempts = row["attempts"].as<int>();
    if (!row["last_code"].is_null()) m.last_code = row["last_code"].as<int>();
    m.last_reply = text(row["last_reply"]);
    m.published = row["published"].as<bool>();
    return m;
  });
}

std::vector<event_record> message_history(const std::string& url, const std::string& tenant,
                                          const std::string& request_id) {
  return with_read(url, [&](pqxx::read_transaction& r) {
    const pqxx::result res = r.exec_params(
        "SELECT m.tenant, m.request_id, e ->> 'status' AS status, "
        "       (e ->> 'attempt')::integer AS attempt, "
        "       coalesce(e ->> 'message_id', m.message_id) AS message_id, "
        "       (e -> 'smtp' ->> 'code')::integer AS smtp_code, "
        "       e -> 'smtp' ->> 'enhanced' AS smtp_enhanced, e -> 'smtp' ->> 'text' AS smtp_text, "
        "       e ->> 'reason' AS reason, "
        "       (extract(epoch FROM (e ->> 'next_attempt_at')::timestamptz) * 1000000)::bigint "
        "         AS next_us, "
        "       (extract(epoch FROM (e ->> 'at')::timestamptz) * 1000000)::bigint AS at_us "
        "FROM messages m, jsonb_array_elements(m.history) WITH ORDINALITY AS h(e, n) "
        "WHERE m.tenant = $1 AND m.request_id = $2 ORDER BY h.n",
        clean_text(tenant), clean_text(request_id));
    std::vector<event_record> out;
    out.reserve(res.size());
    for (const auto& row : res) {
      event_record ev;
      ev.tenant = text(row["tenant"]);
      ev.request_id = text(row["request_id"]);
      const auto status = status_from_name(text(row["status"]));
      if (!status) // written only by this module, from core::status
        throw std::runtime_error("unknown status in messages.history: " + text(row["status"]));
      ev.status = *status;
      ev.attempt = row["attempt"].as<int>();
      ev.message_id = text(row["message_id"]);
      if (!row["smtp_code"].is_null())
        ev.smtp = core::smtp_reply_info{row["smtp_code"].as<int>(), text(row["smtp_enhanced"]),
                                        text(row["smtp_text"])};
      ev.reason = text(row["reason"]);
      if (!row["next_us"].is_null())
        ev.next_attempt_at = from_epoch_us(row["next_us"].as<std::int64_t>());
      ev.at = from_epoch_us(row["at_us"].as<std::int64_t>());
      out.push_back(std::move(ev));
    }
    return out;
  });
}

} // namespace iaposte::store::detail
