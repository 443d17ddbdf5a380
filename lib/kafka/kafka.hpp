// Kafka intake and output: a group consumer (cooperative-sticky rebalancing) with per-partition
// watermark offset storing and pause-based back-pressure, an asynchronous batched producer,
// topic creation, a key finder for recovery, and the protocol of the retry topics and the DLQ.
#pragma once

#include "kafka/consumer.hpp"
#include "kafka/finder.hpp"
#include "kafka/message.hpp"
#include "kafka/producer.hpp"
#include "kafka/protocol.hpp"
