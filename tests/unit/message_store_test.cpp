#include "tests/unit/memory_message_store.h"
#include "tests/unit/message_store_contract.h"

namespace courier::testing {

TEST_CASE("the in-memory store keeps the MessageStore contract") {
  MemoryMessageStore store;
  CheckMessageStoreContract(&store, "t_");
}

}  // namespace courier::testing
