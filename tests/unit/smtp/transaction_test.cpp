// Specifies how the replies of one mail transaction decide the next step and each recipient's
// fate (transaction::judge and settle), without sockets.
#include <doctest/doctest.h>

#include "smtp/transaction.hpp"

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_smtp_transaction_test {

using namespace iaposte::smtp;
using transaction::next;

namespace {

reply r(int code, std::string text = "x") {
  reply out;
  out.code = code;
  if (text.size() >= 5 && text[1] == '.') out.enhanced = text.substr(0, text.find(' '));
  out.lines = {text};
  return out;
}

const std::vector<std::string> three{"x@example.net", "y@example.net", "z@example.net"};

} // namespace

TEST_CASE("judge: everything accepted, DATA 354 → send the body; no DATA yet → send DATA") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(250), r(250), r(251)};
  auto d = r(354);
  auto v = transaction::judge(r(250), rcpts, &d, three, rs);
  CHECK(v.action == next::send_body);
  CHECK_FALSE(v.result);
  CHECK(v.accepted == 3);
  CHECK(rs.size() == 3);
  v = transaction::judge(r(250), rcpts, nullptr, three, rs);
  CHECK(v.action == next::send_data);
  CHECK(rs.size() == 3); // rebuilt, not appended
}

TEST_CASE("judge: partial acceptance sends the body; refused recipients keep their own reply") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(550, "5.1.1 no such user"), r(250), r(452, "4.2.2 full")};
  auto d = r(354);
  auto v = transaction::judge(r(250), rcpts, &d, three, rs);
  CHECK(v.action == next::send_body);
  CHECK(v.accepted == 1);
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].kind == outcome_kind::permanent);
  CHECK(rs[0].last.enhanced == "5.1.1");
  CHECK(rs[1].kind == outcome_kind::sent);
  CHECK(rs[2].kind == outcome_kind::transient);

  outcome o;
  o.kind = outcome_kind::sent;
  o.last = r(250, "2.0.0 queued");
  o.recipients = rs;
  transaction::settle(o, three);
  CHECK(o.partial());
  CHECK(o.recipients[1].last.enhanced == "2.0.0");
  CHECK(o.recipients[0].last.code == 550);
}

TEST_CASE("judge: every RCPT refused and the server still says 354 → the lone dot") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(550, "5.1.1 a"), r(550, "5.1.1 b"), r(550, "5.1.1 c")};
  auto d = r(354);
  auto v = transaction::judge(r(250), rcpts, &d, three, rs);
  CHECK(v.action == next::lone_dot);
  REQUIRE(v.result);
  CHECK(v.result->kind == outcome_kind::permanent);
  CHECK(v.result->last.code == 550);
  CHECK(v.result->error == "RCPT rejected: 550 5.1.1 a");
}

TEST_CASE("judge: every RCPT refused, any 4xx makes the message transient; DATA 554 → RSET") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(550, "5.1.1 a"), r(451, "4.3.0 b"), r(452, "4.2.2 c")};
  auto d = r(554, "5.5.1 no valid recipients");
  auto v = transaction::judge(r(250), rcpts, &d, three, rs);
  CHECK(v.action == next::rset);
  REQUIRE(v.result);
  CHECK(v.result->kind == outcome_kind::transient);
  CHECK(v.result->last.code == 451);                         // the first 4xx
  v = transaction::judge(r(250), rcpts, nullptr, three, rs); // no PIPELINING: DATA never sent
  CHECK(v.action == next::rset);
}

TEST_CASE("judge: MAIL refused decides for every recipient, whatever the pipelined RCPTs say") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(503), r(503), r(503)};
  auto d = r(503);
  auto v = transaction::judge(r(552, "5.3.4 too big"), rcpts, &d, three, rs);
  CHECK(v.action == next::rset);
  REQUIRE(v.result);
  CHECK(v.result->kind == outcome_kind::permanent);
  CHECK(rs.empty());
  outcome o = *v.result;
  transaction::settle(o, three);
  REQUIRE(o.recipients.size() == 3);
  for (const auto& x : o.recipients) {
    CHECK(x.kind == outcome_kind::permanent);
    CHECK(x.last.enhanced == "5.3.4");
  }
  auto yes = r(354);
  CHECK(transaction::judge(r(552), rcpts, &yes, three, rs).action == next::lone_dot);
  // No recipient at all (the client refuses that earlier): a decision, not a crash.
  v = transaction::judge(r(250), {}, nullptr, {}, rs);
  CHECK(v.action == next::rset);
  CHECK(v.result->kind == outcome_kind::permanent);
}

TEST_CASE("judge: a 421 or an out-of-sequence reply anywhere closes the connection") {
  std::vector<recipient_result> rs;
  std::vector<reply> ok{r(250), r(250), r(250)};
  CHECK(transaction::judge(r(421), {}, nullptr, three, rs).action == next::close);
  std::vector<reply> mid{r(250), r(421)};
  auto v = transaction::judge(r(250), mid, nullptr, three, rs);
  CHECK(v.action == next::close);
  CHECK(v.result->kind == outcome_kind::transient);
  CHECK(v.result->last.code == 421);
  auto d421 = r(421);
  CHECK(transaction::judge(r(250), ok, &d421, three, rs).action == next::close);
  auto d250 = r(250);
  v = transaction::judge(r(250), ok, &d250, three, rs);
  CHECK(v.action == next::close);
  CHECK(v.result->error == "unexpected reply to DATA: 250 x");
  std::vector<reply> odd{r(250), r(354), r(250)};
  CHECK(transaction::judge(r(250), odd, nullptr, three, rs).action == next::close);
  CHECK(transaction::judge(r(354), {}, nullptr, three, rs).action == next::close);
}

TEST_CASE("judge: DATA refused with recipients accepted → RSET, and they share the refusal") {
  std::vector<recipient_result> rs;
  std::vector<reply> rcpts{r(250), r(550, "5.1.1 no")};
  auto d = r(451, "4.3.0 later");
  auto v = transaction::judge(r(250), rcpts, &d, std::span(three).first(2), rs);
  CHECK(v.action == next::rset);
  outcome o = *v.result;
  o.recipients = rs;
  transaction::settle(o, std::span(three).first(2));
  CHECK(o.kind == outcome_kind::transient);
  CHECK(o.recipients[0].kind == outcome_kind::transient);
  CHECK(o.recipients[0].last.code == 451);
  CHECK(o.recipients[1].kind == outcome_kind::permanent);
  CHECK_FALSE(o.partial());
}

TEST_CASE("settle: recipients the conversation never reached take the message's outcome") {
  outcome o;
  o.kind = outcome_kind::transient;
  o.error = "connection closed";
  transaction::settle(o, three);
  REQUIRE(o.recipients.size() == 3);
  CHECK(o.recipients[2].address == "z@example.net");
  CHECK(o.recipients[2].kind == outcome_kind::transient);
  transaction::settle(o, three); // idempotent
  CHECK(o.recipients.size() == 3);
}

} // namespace test_unit_smtp_transaction_test
